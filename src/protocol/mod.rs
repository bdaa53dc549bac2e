//! Wire codecs: each turns one protocol's bytes into the model's
//! [`Request`](crate::model::Request)s and its
//! [`Response`](crate::model::Response)s back into bytes. Nothing here
//! touches a socket, the store or the engine.

pub mod binary;
pub mod meta;
pub mod text;
