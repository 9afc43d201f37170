"""The landing sensor: new, restated or deleted billing exports re-load their months."""
