"""Training: the one GAN iteration, the loop around it, and the paths that transform it (compiled, torchrun)."""
