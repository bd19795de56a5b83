"""The thin Blender shell: read a scene into core types, key the rig, render. Imports bpy."""
