"""The loss-side axes of a GAN: objectives, penalties, augmentations, optimisers (data and models have their own packages)."""
