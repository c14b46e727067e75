//! Charts of bench results.
