//! The planner's unit tests, on crafted data roots.
