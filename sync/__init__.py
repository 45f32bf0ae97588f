"""Jangkau's sync protocol, framework-free: clocks, merge rules and referral status."""
