"""Deployment: the packaged bundle (`make package`) and its rehearsal on the local AWS (`make rehearse`)."""
