//! natter: a small IRC chat server and terminal client.
pub mod proto;
