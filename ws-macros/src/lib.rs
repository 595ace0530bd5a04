//! Macros of `ws` (placeholder).
