//! y-websocket collaboration scenarios (`studio-load collab …`).
//!
//! - [`protocol`]: the frames (encoded with `yrs::sync`, classified by hand);
//! - [`marker`]: the strings that identify each (sender, seq) inside a relayed update;
//! - [`connection`]: opening a room URL, pings, close codes, errors;
//! - [`room`]: N clients in one room sending and receiving (`relay`, `throughput`);
//! - [`idle`]: many quiet connections and the server's memory per connection (`idle`).

pub mod connection;
pub mod counters;
pub mod idle;
pub mod marker;
pub mod protocol;
pub mod room;
