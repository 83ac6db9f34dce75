//! A quantized matmul over the stored GGML blocks alone, for the experts of a mixture of
//! experts on a CPU.
//!
//! candle's `QMatMul` keeps, beside each matrix it multiplies on an x86 CPU with a tiled kernel
//! (AVX-512 VNNI, AVX-VNNI, and for 4-bit blocks AVX2), a repacked copy of it: 1.33 times the
//! 4-bit blocks, made on the first multiply and kept. A canvas's tokens reach nearly every
//! expert of every layer, so LLaDA2.0-mini at q4k grew from 11.6 GB loaded past 17.9 GB. An
//! expert multiplies the handful of rows routed to it: where Anneal's tiled kernel takes the
//! block type (Q8_0, Q5_0, Q4_K: `tiled.rs`, in the stored bytes' memory) it runs that, and the
//! rest (Q6_K from a llama.cpp file, a CPU without AVX2) runs here, on the stored blocks with
//! candle's per-row dot products (`k_quants::matmul`, threaded), and nothing is repacked.

use std::sync::Arc;

use candle_core::quantized::k_quants::{self, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Result, Tensor};

/// `x` (`[…, inputs]`) times the transpose of the `[outputs, inputs]` blocks of `weight`.
pub(super) fn matmul(weight: &Arc<QTensor>, x: &Tensor) -> Result<Tensor> {
    let (outputs, inputs) = weight.shape().dims2()?;
    on_rows(x, outputs, |lhs, rows| {
        let data = weight.data()?;
        let mut dst = vec![0f32; rows * outputs];
        let mkn = (rows, inputs, outputs);
        multiply(weight.dtype(), mkn, lhs, &data, &mut dst)?;
        Ok(dst)
    })
}

/// `x`'s rows (`[…, inputs]`) as one f32 buffer, multiplied by `multiply` into `outputs`
/// columns each, back in `x`'s shape and dtype: what a CPU matmul over raw blocks needs around it.
pub(super) fn on_rows(x: &Tensor, outputs: usize, multiply: impl FnOnce(&[f32], usize) -> Result<Vec<f32>>) -> Result<Tensor> {
    let mut shape = x.dims().to_vec();
    let inputs = *shape.last().expect("x has a last dimension");
    let lhs = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let dst = multiply(&lhs, lhs.len() / inputs)?;
    *shape.last_mut().expect("x has a last dimension") = outputs;
    Tensor::from_vec(dst, shape, x.device())?.to_dtype(x.dtype())
}

/// candle's per-row block matmul for the stored block type `dtype`.
fn multiply(dtype: GgmlDType, mkn: (usize, usize, usize), lhs: &[f32], data: &[u8], dst: &mut [f32]) -> Result<()> {
    match dtype {
        GgmlDType::Q4_0 => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ4_0>(data), dst)?,
        GgmlDType::Q4_1 => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ4_1>(data), dst)?,
        GgmlDType::Q5_0 => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ5_0>(data), dst)?,
        GgmlDType::Q5_1 => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ5_1>(data), dst)?,
        GgmlDType::Q8_0 => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ8_0>(data), dst)?,
        GgmlDType::Q2K => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ2K>(data), dst)?,
        GgmlDType::Q3K => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ3K>(data), dst)?,
        GgmlDType::Q4K => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ4K>(data), dst)?,
        GgmlDType::Q5K => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ5K>(data), dst)?,
        GgmlDType::Q6K => k_quants::matmul(mkn, lhs, blocks::<k_quants::BlockQ6K>(data), dst)?,
        other => candle_core::bail!("no block matmul for {other:?}"),
    }
    Ok(())
}

/// The stored bytes of a CPU tensor as its blocks. The bytes are the `Vec<T>` candle holds
/// them in (`QTensor::data` borrows it on a CPU), so they are aligned for `T`.
fn blocks<T: GgmlType>(data: &[u8]) -> &[T] {
    let size = std::mem::size_of::<T>();
    assert!(data.len().is_multiple_of(size) && (data.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()));
    // SAFETY: length and alignment checked above; GGML blocks are plain old data (integers and
    // f16s, every bit pattern valid), and the slice borrows `data` for its lifetime.
    #[allow(unsafe_code)]
    unsafe {
        std::slice::from_raw_parts(data.as_ptr() as *const T, data.len() / size)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module};

    use super::*;

    #[test]
    fn the_stored_blocks_multiply_as_candles_kernels_do() {
        let device = Device::Cpu;
        // Widths where candle repacks 4-bit blocks on x86 (multiples of 256 and of 16).
        let values: Vec<f32> = (0..64 * 512).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.1).collect();
        let weight = Tensor::from_vec(values, (64, 512), &device).unwrap();
        let x: Vec<f32> = (0..5 * 512).map(|i| ((i * 104_729 % 997) as f32 / 997.0 - 0.5) * 2.0).collect();
        let x = Tensor::from_vec(x, (1, 5, 512), &device).unwrap();
        let max_diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        for dtype in [GgmlDType::Q4K, GgmlDType::Q8_0, GgmlDType::Q6K, GgmlDType::Q5_0] {
            let blocks = Arc::new(QTensor::quantize(&weight, dtype).unwrap());
            // The product with the blocks' own values, in f32: what both kernels approximate by
            // quantizing the activations too (candle's tiled ones in blocks of 256, these in
            // the weight's own block type's).
            let exact = x.broadcast_matmul(&blocks.dequantize(&device).unwrap().t().unwrap()).unwrap();
            let theirs = QMatMul::from_arc(blocks.clone()).unwrap().forward(&x).unwrap();
            let ours = matmul(&blocks, &x).unwrap();
            assert_eq!(ours.dims(), [1, 5, 64]);
            let scale = exact.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            let (ours_error, theirs_error) = (max_diff(&ours, &exact), max_diff(&theirs, &exact));
            assert!(ours_error <= (1.5 * theirs_error).max(1e-5 * scale), "{dtype:?}: {ours_error} against candle's {theirs_error}");
            assert!(ours_error <= 0.02 * scale, "{dtype:?}: {ours_error} of {scale}");
        }
    }
}
