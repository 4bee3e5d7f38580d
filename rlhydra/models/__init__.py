"""Default torch building blocks: MLP trunks and action distributions."""
