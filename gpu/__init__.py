"""What only GPU workers need (device choice, cross-call batching); see issue 8."""
