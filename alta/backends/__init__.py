"""Backends: numpy (reference), torch, jax, onnx; third parties add more by entry point."""
