"""ebsnap's local stand-in for EC2 + IMDSv2 + a loop-device data plane (see ../README.md)."""
