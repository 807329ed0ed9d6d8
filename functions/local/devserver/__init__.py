"""The local pipeline: `beacon dev`, the demo generator and `beacon jobs run`."""
