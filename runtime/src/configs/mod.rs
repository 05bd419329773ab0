//! Configuration of each pallet in the runtime, one file a concern. No file here reads
//! another: what several configurations share is in [`crate::constants`] (time, money, block
//! limits, cross-pallet bounds, the treasury's account) and [`crate::origins`]; the signing of
//! off-chain workers' transactions is in [`crate::offchain`]; the benchmarks' helpers are in
//! `crate::benchmark_helpers`.

mod collators;
mod datasets;
mod governance;
mod inference;
mod models;
mod parachain;
mod providers;
mod royalties;
mod system;
pub mod xcm_config;

pub use datasets::MAX_RECORD_LENGTH;
pub use governance::{
	EnactmentPeriod, LaunchPeriod, MinimumDeposit, VotingPeriod, FAST_TRACK_VOTING_PERIOD,
};
pub use system::TransactionByteFee;
