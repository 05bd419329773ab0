//! Providers a chain starts with, as a chain spec writes them.

use crate::*;
use alloc::{string::String, vec::Vec};

/// Hardware as a chain spec writes it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisSpec {
	/// The GPU model.
	pub gpu_model: String,
	/// Memory per GPU, in GiB.
	pub vram_gib: u32,
	/// How many GPUs.
	pub gpu_count: u32,
	/// Where the hardware is.
	pub region: String,
	/// The provider's own endpoint, if any.
	pub endpoint: Option<String>,
}

/// A provider registered at genesis; its bond is held from it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisProvider<AccountId, Balance> {
	/// The staking account.
	pub provider: AccountId,
	/// The key its node signs with.
	pub operator: AccountId,
	/// Its hardware.
	pub spec: GenesisSpec,
	/// Its bond.
	pub bond: Balance,
	/// The models it serves (active at genesis).
	pub serves: Vec<ModelId>,
}

impl<T: Config> Pallet<T> {
	/// Registers a genesis provider through the same checks as the calls.
	pub(crate) fn create_genesis_provider(
		provider: &GenesisProvider<T::AccountId, BalanceOf<T>>,
	) -> DispatchResult {
		let text = |value: &String| {
			BoundedVec::try_from(value.clone().into_bytes()).map_err(|_| Error::<T>::SpecTooLong)
		};
		let spec = HardwareSpec {
			gpu_model: text(&provider.spec.gpu_model)?,
			vram_gib: provider.spec.vram_gib,
			gpu_count: provider.spec.gpu_count,
			region: text(&provider.spec.region)?,
			endpoint: provider.spec.endpoint.as_ref().map(text).transpose()?,
		};
		Self::do_register(
			provider.provider.clone(),
			spec,
			provider.operator.clone(),
			provider.bond,
		)?;
		for model_id in &provider.serves {
			Self::do_serve(provider.provider.clone(), *model_id)?;
		}
		Ok(())
	}
}
