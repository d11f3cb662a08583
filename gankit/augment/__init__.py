"""Built-in augmentations (the ``augment`` component kind), registered like any third-party plugin."""
