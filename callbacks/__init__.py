"""Keras callbacks that record learning rates for the Learning Rate tab."""
