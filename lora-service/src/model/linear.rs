//! The base model's linear layers: dense f32 weights, or quantized ones multiplied by candle's
//! quantized kernels; on the tensor path (`Kernels::Tensors`, a GPU's), either held on the
//! model's device and multiplied there by candle.

use super::{
	matmul::{Format, Packed},
	Kernels,
};
use anyhow::Result;
use candle_core::{
	quantized::{GgmlDType, QMatMul, QTensor},
	DType, Device, Module, Tensor,
};

/// How the base model's projection weights are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Weights {
	/// Exact f32 arithmetic on the file's weights: Q4_0, Q4_1 and Q8_0 tensors kept in their
	/// blocks and decoded in the kernel to the bits their dequantization gives (under a byte a
	/// weight), other types dequantized to f32 (four bytes a weight).
	Dense,
	/// Every projection quantized and multiplied by candle's quantized kernels, which quantize
	/// the activations to 8 bits per block of 32: kept as the file has them where candle has
	/// SIMD kernels for the type (Q4_0, Q8_0, Q4K, Q6K), otherwise (Q4_1, F16, …) re-quantized
	/// to Q8_0 (about a byte a weight).
	Quantized,
	/// Quantized, except the feed-forward down projections, dense: their inputs carry the
	/// outlier activations that 8-bit blocks lose. Closer to the model's answers than
	/// `Quantized`, but not the same: on some CPUs SmolLM2's answer to "What is the capital of
	/// France?" still goes astray (docs/lora-service.md).
	Mixed,
}

/// A projection's weights, (out, in).
pub(crate) enum Linear {
	/// Packed for the row-invariant kernel (`matmul`).
	Dense(Packed),
	Quantized(QMatMul),
	/// On the tensor path: held on the model's device and multiplied by candle's kernels there
	/// (cuBLAS and candle's quantized CUDA kernels on a GPU), quantized as the file has them or,
	/// for [`Weights::Dense`] and the dense down projections of [`Weights::Mixed`], as f32.
	Device(QMatMul),
}

impl Linear {
	/// Types candle multiplies with SIMD kernels on x86 and ARM.
	fn fast(dtype: GgmlDType) -> bool {
		matches!(dtype, GgmlDType::Q4_0 | GgmlDType::Q8_0 | GgmlDType::Q4K | GgmlDType::Q6K)
	}

	pub(crate) fn new(
		tensor: QTensor,
		weights: Weights,
		device: &Device,
		kernels: Kernels,
	) -> Result<Self> {
		if kernels == Kernels::Tensors {
			return Ok(Self::Device(match weights {
				Weights::Dense => QMatMul::Tensor(tensor.dequantize(device)?),
				Weights::Quantized | Weights::Mixed => QMatMul::from_qtensor(tensor)?,
			}));
		}
		Ok(match weights {
			Weights::Dense => match Format::of(tensor.dtype()) {
				Some(format) => {
					let (out, k) = tensor.shape().dims2()?;
					Self::Dense(Packed::blocks(format, &tensor.data()?, out, k)?)
				}
				None => Self::pack(&tensor.dequantize(device)?)?,
			},
			Weights::Quantized | Weights::Mixed if Self::fast(tensor.dtype()) => {
				Self::Quantized(QMatMul::from_qtensor(tensor)?)
			}
			Weights::Quantized | Weights::Mixed => Self::requantize(&tensor.dequantize(device)?)?,
		})
	}

	fn pack(dense: &Tensor) -> Result<Self> {
		let (out, k) = dense.dims2()?;
		let w = dense.flatten_all()?.to_vec1::<f32>()?;
		Ok(Self::Dense(Packed::new(&w, out, k)))
	}

	fn requantize(dense: &Tensor) -> Result<Self> {
		Ok(Self::Quantized(QMatMul::from_qtensor(QTensor::quantize(dense, GgmlDType::Q8_0)?)?))
	}

	/// x (rows, in) W^T.
	pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
		Ok(match self {
			Self::Dense(w) => w.forward(x)?,
			Self::Quantized(w) | Self::Device(w) => w.forward(x)?,
		})
	}

	pub(crate) fn dense(&self) -> Result<Tensor> {
		Ok(match self {
			Self::Dense(w) => Tensor::from_vec(w.unpack(), (w.out(), w.k()), &Device::Cpu)?,
			Self::Quantized(w) | Self::Device(w) => match w {
				QMatMul::QTensor(q) => q.dequantize(&q.device())?,
				QMatMul::Tensor(w) => w.clone(),
				QMatMul::TensorF16(w) => w.to_dtype(DType::F32)?,
			},
		})
	}

	/// The same representation, with `delta` (out, in) added.
	pub(crate) fn plus(&self, delta: &Tensor) -> Result<Self> {
		let dense = self.dense()?;
		// The change is computed where the adapter lives, the CPU; a GPU's weights are there.
		let sum = (&dense + delta.to_device(dense.device())?)?;
		Ok(match self {
			Self::Dense(_) => Self::pack(&sum)?,
			Self::Quantized(_) => Self::requantize(&sum)?,
			Self::Device(QMatMul::QTensor(q)) => {
				Self::Device(QMatMul::from_qtensor(QTensor::quantize(&sum, q.dtype())?)?)
			}
			Self::Device(_) => Self::Device(QMatMul::Tensor(sum)),
		})
	}

	pub(crate) fn duplicate(&self) -> Self {
		match self {
			Self::Dense(w) => Self::Dense(w.clone()),
			Self::Quantized(w) => Self::Quantized(w.clone()),
			Self::Device(w) => Self::Device(w.clone()),
		}
	}

	/// Bytes the weights take in memory.
	pub(crate) fn bytes(&self) -> usize {
		match self {
			Self::Dense(w) => w.bytes(),
			Self::Quantized(w) | Self::Device(w) => match w {
				QMatMul::QTensor(q) => q.storage_size_in_bytes(),
				QMatMul::Tensor(w) => w.elem_count() * 4,
				QMatMul::TensorF16(w) => w.elem_count() * 2,
			},
		}
	}
}
