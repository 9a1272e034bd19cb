"""Every write to incidents and escalations goes through a function in this package."""
