//! The records this pallet keeps: providers, their hardware, stake and pending slashes.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	frame_support::{
		traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
	},
	sp_runtime::Perbill,
};
use scale_info::TypeInfo;
use tributary_primitives::ModelId;

/// Identifies a pending slash. Assigned in order, starting at 0.
pub type SlashId = u32;

/// The hardware a provider declares.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
	TypeInfo,
	MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[scale_info(skip_type_params(MaxText))]
#[codec(mel_bound())]
#[cfg_attr(feature = "std", serde(bound = ""))]
pub struct HardwareSpec<MaxText: Get<u32>> {
	/// The GPU model, e.g. `NVIDIA H100 80GB`.
	pub gpu_model: BoundedVec<u8, MaxText>,
	/// Memory per GPU, in GiB.
	pub vram_gib: u32,
	/// How many GPUs serve; the provider's capacity grows with it.
	pub gpu_count: u32,
	/// Where the hardware is, e.g. `eu-west`.
	pub region: BoundedVec<u8, MaxText>,
	/// Where the provider's own inference endpoint listens, if it offers one.
	pub endpoint: Option<BoundedVec<u8, MaxText>>,
}

/// Stake on its way out: released once `unlock_at` is reached, slashable until then.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	PartialEq,
	Eq,
	Debug,
	TypeInfo,
	MaxEncodedLen,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct UnlockChunk<Balance, BlockNumber> {
	/// How much.
	pub value: Balance,
	/// The first block it may be withdrawn in.
	pub unlock_at: BlockNumber,
}

/// Whether a provider takes work, as others see it.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	TypeInfo,
	MaxEncodedLen,
	serde::Serialize,
	serde::Deserialize,
)]
pub enum ProviderStatus {
	/// Heartbeats are coming in: the provider may be assigned work.
	Online,
	/// No heartbeat for `OfflineAfter` blocks: not assigned work, not slashed for it.
	Offline,
	/// The provider went offline on purpose (`go_offline`) until `go_online`.
	Maintenance,
}

/// A GPU provider: the staking account's record.
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[scale_info(skip_type_params(MaxText, MaxChunks, MaxServed))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "AccountId: serde::Serialize, Balance: serde::Serialize, BlockNumber: serde::Serialize",
		deserialize = "AccountId: serde::Deserialize<'de>, Balance: serde::Deserialize<'de>, \
	               BlockNumber: serde::Deserialize<'de>"
	))
)]
pub struct Provider<AccountId, Balance, BlockNumber, MaxText, MaxChunks, MaxServed>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxText: Get<u32>,
	MaxChunks: Get<u32>,
	MaxServed: Get<u32>,
{
	/// The key the provider's node signs heartbeats and results with.
	pub operator: AccountId,
	/// The declared hardware.
	pub spec: HardwareSpec<MaxText>,
	/// Stake at work, held.
	pub bonded: Balance,
	/// Stake unbonding, held until each chunk's block.
	pub unlocking: BoundedVec<UnlockChunk<Balance, BlockNumber>, MaxChunks>,
	/// The models the provider serves.
	pub served: BoundedVec<ModelId, MaxServed>,
	/// Set by `go_offline`, cleared by `go_online`.
	pub maintenance: bool,
	/// The block of the last heartbeat (registration and `go_online` count as one).
	pub last_heartbeat: BlockNumber,
	/// Assignments in progress.
	pub assignments: u32,
	/// Slashes pending against it (entries of `PendingSlashes`).
	pub pending_slashes: u32,
	/// The block it registered in.
	pub registered_at: BlockNumber,
}

/// A slash waiting out `SlashDeferDuration`, which governance may cancel.
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[scale_info(skip_type_params(MaxReason))]
#[codec(mel_bound(BlockNumber: MaxEncodedLen))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "BlockNumber: serde::Serialize",
		deserialize = "BlockNumber: serde::Deserialize<'de>"
	))
)]
pub struct PendingSlash<BlockNumber, MaxReason>
where
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxReason: Get<u32>,
{
	/// Its id.
	pub id: SlashId,
	/// The share of the provider's stake (bonded and unlocking) it takes.
	pub fraction: Perbill,
	/// Why, in words.
	pub reason: BoundedVec<u8, MaxReason>,
	/// The block it is applied in.
	pub apply_at: BlockNumber,
}

/// A provider as the runtime API returns it: its record, with the status and capacity that
/// follow from it now.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct ProviderView<Record> {
	/// The stored record.
	#[cfg_attr(feature = "std", serde(flatten))]
	pub record: Record,
	/// Online, offline for want of heartbeats, or in maintenance.
	pub status: ProviderStatus,
	/// How many assignments it takes at once.
	pub capacity: u32,
}
