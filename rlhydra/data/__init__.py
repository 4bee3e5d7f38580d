"""What flows between the parts: batch column names, episodes, rollouts, checkpoint directories, RNG state."""
