"""The e-bike-in-elevator rule: a tracker, the car's floor zone and the decision over tracks."""
