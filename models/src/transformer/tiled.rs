//! A tiled matmul for GGML's blocks of 32 (Q8_0, Q5_0) on x86 CPUs, at any width that is a
//! multiple of 32, and for Q4_K's super-blocks of 256: AVX-512 VNNI where the CPU has it, else
//! AVX2.
//!
//! candle 0.11's tiled x86 kernels quantize the activations in super-blocks of 256, so they take
//! only layers whose width is a multiple of 256. The rest — Qwen2.5-0.5B's 896 wide layers, and
//! every layer q4k stores as Q5_0 because 256 does not divide it — fell to a dot product per
//! output element, and ran 4x slower than f32. Here the activations are quantized in blocks of
//! 32, as the weights are (what GGML's Q8_0 and Q5_0 dot products do too), and the weights are
//! laid out once, as they load, in tiles of 16 output rows by one block of 32 inputs with four
//! inputs of each row side by side: one `vpdpbusd` multiplies four inputs of a token into 16
//! outputs, and one multiply by the 16 rows' scales serves them all. A tile holds the stored
//! blocks' bytes in another order and no more, so the weights take the memory they took as
//! blocks. The AVX2 form reads the same tiles in halves of eight rows.
//!
//! Q4_K is eight blocks of 32 under one pair of f16 factors: a block's weight is
//! `d·scale·q − dmin·min` with 4-bit `q` and 6-bit `scale` and `min`. Its tiles are Q5_0's
//! without the fifth bits, each block's scale and min unpacked to a byte each (2.8% more than
//! stored); the kernel multiplies `q` as Q5_0's, then takes `dmin·min` times the activations'
//! sum off in floats. candle multiplies Q4_K through a repacked copy 1.33 times the blocks (its
//! tiled kernel), or, for a mixture's experts (`compact.rs`), a dot product an output.

use std::sync::OnceLock;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// Output rows a tile holds: one 512-bit register of 32-bit sums.
const ROWS: usize = 16;
/// Inputs a GGML block of these types holds, and a tile.
const BLOCK: usize = 32;
/// Rows of activations one call of the kernel carries in registers.
const TOKENS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Q8_0,
    Q5_0,
    Q4K,
}

impl Kind {
    fn of(dtype: GgmlDType) -> Option<Kind> {
        match dtype {
            GgmlDType::Q8_0 => Some(Kind::Q8_0),
            GgmlDType::Q5_0 => Some(Kind::Q5_0),
            GgmlDType::Q4K => Some(Kind::Q4K),
            _ => None,
        }
    }

    /// Bytes of one GGML block: an f16 scale, then Q5_0's 32 fifth bits, then the quants; for
    /// Q4_K an eighth of a super-block (two f16 factors, 12 bytes of 6-bit scales and mins,
    /// 128 of quants).
    fn block_bytes(self) -> usize {
        match self {
            Kind::Q8_0 => 2 + BLOCK,
            Kind::Q5_0 => 2 + 4 + BLOCK / 2,
            Kind::Q4K => Q4K_BYTES / 8,
        }
    }

    /// Bytes of one tile's quants. Q8_0: 8 groups of 16 rows × 4 bytes. Q5_0: the low four bits
    /// of two groups in each byte (4 × 64 bytes), then each group's fifth bits as a 64-bit
    /// mask over its 64 bytes (8 × 8 bytes) — 22 bytes a row and block, as stored. Q4_K: Q5_0's
    /// without the fifth bits.
    fn tile_bytes(self) -> usize {
        match self {
            Kind::Q8_0 => ROWS * BLOCK,
            Kind::Q5_0 => ROWS * BLOCK / 2 + 8 * 8,
            Kind::Q4K => ROWS * BLOCK / 2,
        }
    }

    /// What the unsigned quants a tile holds exceed the weights' values by: `vpdpbusd`
    /// multiplies unsigned bytes by signed ones, so the weights are the unsigned side. Q4_K's
    /// offset is a float per row and block (its min), taken off apart.
    fn offset(self) -> i32 {
        match self {
            Kind::Q8_0 => 128,
            Kind::Q5_0 => 16,
            Kind::Q4K => 0,
        }
    }

    /// Puts row `r`'s unsigned quants of one block into its tile's bytes `out`: input i is
    /// byte i mod 4 of group i / 4, beside the other rows' (Q5_0 and Q4_K: groups 2p and
    /// 2p + 1 share bytes, low and high nibbles; Q5_0's fifth bits apart, a bit a row and input).
    fn place(self, out: &mut [u8], r: usize, quants: &[u8; BLOCK]) {
        match self {
            Kind::Q8_0 => {
                for g in 0..8 {
                    out[(g * ROWS + r) * 4..][..4].copy_from_slice(&quants[4 * g..][..4]);
                }
            }
            Kind::Q5_0 | Kind::Q4K => {
                for pair in 0..4 {
                    for j in 0..4 {
                        out[(pair * ROWS + r) * 4 + j] = (quants[8 * pair + j] & 0x0F) | (quants[8 * pair + 4 + j] & 0x0F) << 4;
                    }
                }
                if self == Kind::Q5_0 {
                    for (i, quant) in quants.iter().enumerate() {
                        let (g, bit) = (i / 4, r * 4 + i % 4);
                        out[ROWS * BLOCK / 2 + g * 8 + bit / 8] |= (quant >> 4) << (bit % 8);
                    }
                }
            }
        }
    }

    /// A stored block's 32 quants as unsigned bytes (value + offset).
    fn unsigned_quants(self, block: &[u8]) -> [u8; BLOCK] {
        let mut quants = [0u8; BLOCK];
        match self {
            Kind::Q8_0 => {
                for (quant, &byte) in quants.iter_mut().zip(&block[2..]) {
                    *quant = (byte as i8 as i16 + 128) as u8;
                }
            }
            Kind::Q5_0 => {
                let fifth = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                for (j, &byte) in block[6..].iter().enumerate() {
                    quants[j] = (byte & 0x0F) | (((fifth >> j) & 1) << 4) as u8;
                    quants[j + BLOCK / 2] = (byte >> 4) | (((fifth >> (j + BLOCK / 2)) & 1) << 4) as u8;
                }
            }
            Kind::Q4K => unreachable!("Q4_K's blocks are read by `q4k_block`"),
        }
        quants
    }
}

/// Bytes of a Q4_K super-block of 256 weights.
const Q4K_BYTES: usize = 144;

/// Block `j` (0..8) of a Q4_K super-block: its 32 quants, 6-bit scale and 6-bit min, as
/// GGML's `dequantize_row_q4_K` reads them (`get_scale_min_k4`; blocks 2k and 2k + 1 share
/// bytes 32k.. of the quants, low and high nibbles).
fn q4k_block(superblock: &[u8], j: usize) -> ([u8; BLOCK], u8, u8) {
    let (packed, quants) = (&superblock[4..16], &superblock[16..Q4K_BYTES]);
    let (scale, min) = match j {
        0..4 => (packed[j] & 63, packed[j + 4] & 63),
        _ => ((packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4), (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4)),
    };
    let bytes = &quants[32 * (j / 2)..][..BLOCK];
    (std::array::from_fn(|l| if j.is_multiple_of(2) { bytes[l] & 0x0F } else { bytes[l] >> 4 }), scale, min)
}

/// A `[outputs, inputs]` matrix of GGML blocks laid out in tiles.
pub(super) struct TiledBlocks {
    kind: Kind,
    outputs: usize,
    inputs: usize,
    /// `[tile][block]` of [`Kind::tile_bytes`] each.
    quants: Vec<u8>,
    /// f16 bits of each row's block scale, `[tile][block][row]`; padding rows hold 0. Q4_K:
    /// the block's 6-bit scale in the low byte, its min in the high one.
    scales: Vec<u16>,
    /// Q4_K alone: f16 bits of each row's `d` then its `dmin`, `[tile][super-block][2][row]`.
    factors: Vec<u16>,
}

impl std::fmt::Debug for TiledBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TiledBlocks({:?}, [{}, {}])", self.kind, self.outputs, self.inputs)
    }
}

/// The instruction sets the tiled kernel has a form for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Isa {
    /// `vpdpbusd` on 512-bit registers: 16 outputs by 4 inputs an instruction.
    Avx512Vnni,
    /// `vpmaddubsw` and `vpmaddwd` on 256-bit registers, for CPUs without VNNI.
    Avx2,
}

/// Every form this CPU can run, fastest first (detected once: the kernel asks on every call).
fn runnable() -> &'static [Isa] {
    static FORMS: OnceLock<Vec<Isa>> = OnceLock::new();
    FORMS.get_or_init(|| {
        let mut forms = vec![];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni") {
                forms.push(Isa::Avx512Vnni);
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c") {
                forms.push(Isa::Avx2);
            }
        }
        forms
    })
}

/// The form quantized layers use on this CPU, `None` where it runs none (candle's kernels
/// then multiply every layer). `ANNEAL_TILED_KERNEL=avx2` takes the AVX2 form where both run
/// and `off` none, to measure one against another on one machine.
pub(super) fn isa() -> Option<Isa> {
    static ISA: OnceLock<Option<Isa>> = OnceLock::new();
    *ISA.get_or_init(|| {
        let forms = runnable();
        match std::env::var("ANNEAL_TILED_KERNEL").as_deref() {
            Ok("off") => None,
            Ok("avx2") => forms.iter().copied().find(|&f| f == Isa::Avx2),
            _ => forms.first().copied(),
        }
    })
}

impl TiledBlocks {
    /// The blocks of `weight` in tiles, or `None` for a block type this kernel does not take.
    pub(super) fn new(weight: &QTensor) -> Result<Option<TiledBlocks>> {
        let Some(kind) = Kind::of(weight.dtype()) else { return Ok(None) };
        let (outputs, inputs) = weight.shape().dims2()?;
        Ok(Some(TiledBlocks::from_bytes(kind, outputs, inputs, &weight.data()?)))
    }

    fn from_bytes(kind: Kind, outputs: usize, inputs: usize, data: &[u8]) -> TiledBlocks {
        let blocks = inputs / BLOCK;
        let (tiles, tile_bytes, row_bytes) = (outputs.div_ceil(ROWS), kind.tile_bytes(), blocks * kind.block_bytes());
        assert_eq!(data.len(), outputs * row_bytes, "{kind:?} blocks of [{outputs}, {inputs}]");
        // The kernels read a Q4_K tile's factors a super-block at a time.
        assert!(kind != Kind::Q4K || inputs.is_multiple_of(8 * BLOCK), "Q4_K rows of {inputs}");
        let factors_per_tile = if kind == Kind::Q4K { blocks / 8 * 2 * ROWS } else { 0 };
        let mut quants = vec![0u8; tiles * blocks * tile_bytes];
        let mut scales = vec![0u16; tiles * blocks * ROWS];
        let mut factors = vec![0u16; tiles * factors_per_tile];
        // Tiles are filled apart, in parallel: a load lays out every layer this way.
        let mut factor_chunks: Vec<&mut [u16]> = factors.chunks_mut(factors_per_tile.max(1)).collect();
        factor_chunks.resize_with(tiles, Default::default);
        let tile_parts: Vec<_> = quants.chunks_mut(blocks * tile_bytes).zip(scales.chunks_mut(blocks * ROWS)).zip(factor_chunks).collect();
        tile_parts.into_par_iter().enumerate().for_each(|(tile, ((quants, scales), factors))| {
            let rows = &data[tile * ROWS * row_bytes..][..(outputs - tile * ROWS).min(ROWS) * row_bytes];
            for (r, row) in rows.chunks_exact(row_bytes).enumerate() {
                let mut place = |b: usize, block_quants: &[u8; BLOCK], scale: u16| {
                    scales[b * ROWS + r] = scale;
                    kind.place(&mut quants[b * tile_bytes..][..tile_bytes], r, block_quants);
                };
                match kind {
                    Kind::Q4K => {
                        for (s, superblock) in row.chunks_exact(Q4K_BYTES).enumerate() {
                            factors[s * 2 * ROWS + r] = u16::from_le_bytes([superblock[0], superblock[1]]);
                            factors[s * 2 * ROWS + ROWS + r] = u16::from_le_bytes([superblock[2], superblock[3]]);
                            for j in 0..8 {
                                let (block_quants, scale, min) = q4k_block(superblock, j);
                                place(s * 8 + j, &block_quants, scale as u16 | (min as u16) << 8);
                            }
                        }
                    }
                    _ => {
                        for (b, block) in row.chunks_exact(kind.block_bytes()).enumerate() {
                            place(b, &kind.unsigned_quants(block), u16::from_le_bytes([block[0], block[1]]));
                        }
                    }
                }
            }
        });
        TiledBlocks { kind, outputs, inputs, quants, scales, factors }
    }

    /// Where Q4_K's factors for block `b` of `tile` start: its super-block's `d` for the 16
    /// rows, then its `dmin` (`from_bytes` fills a tile's super-blocks in order).
    fn factors_at(&self, tile: usize, b: usize) -> usize {
        let supers = self.inputs / (8 * BLOCK);
        (tile * supers + b / 8) * 2 * ROWS
    }

    /// Rows of `[rows, inputs]` f32 `lhs` times the transpose of these blocks: `[rows, outputs]`.
    fn matmul_rows(&self, isa: Isa, lhs: &[f32], rows: usize) -> Vec<f32> {
        if rows == 0 {
            return vec![];
        }
        let activations = Activations::quantize(lhs, rows, self.inputs);
        let tiles = self.outputs.div_ceil(ROWS);
        // Each tile's outputs for every row, side by side, then put in place.
        let mut panels = vec![0f32; tiles * rows * ROWS];
        panels.par_chunks_mut(rows * ROWS).enumerate().for_each(|(tile, panel)| {
            for (group, out) in panel.chunks_mut(TOKENS * ROWS).enumerate() {
                self.tile_rows(isa, tile, &activations, group * TOKENS, out);
            }
        });
        let mut dst = vec![0f32; rows * self.outputs];
        dst.par_chunks_mut(self.outputs).enumerate().for_each(|(row, outputs)| {
            for (tile, out) in outputs.chunks_mut(ROWS).enumerate() {
                out.copy_from_slice(&panels[(tile * rows + row) * ROWS..][..out.len()]);
            }
        });
        dst
    }

    /// One tile's outputs for rows `first..first + out.len() / ROWS` (at most [`TOKENS`]).
    fn tile_rows(&self, isa: Isa, tile: usize, activations: &Activations, first: usize, out: &mut [f32]) {
        assert!(runnable().contains(&isa) && out.len().is_multiple_of(ROWS) && out.len() <= TOKENS * ROWS);
        assert!(first + out.len() / ROWS <= activations.rows && tile < self.outputs.div_ceil(ROWS));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the instructions `isa` needs (`runnable`), and the asserts above
        // keep the kernel's reads inside the tile's and the rows' buffers, its writes in `out`.
        #[allow(unsafe_code)]
        unsafe {
            let rows = out.len() / ROWS;
            match (isa, rows) {
                (Isa::Avx512Vnni, 8) => avx512::tile_rows::<8>(self, tile, activations, first, out),
                (Isa::Avx2, 8) => {
                    let (left, right) = out.split_at_mut(4 * ROWS);
                    avx2::tile_rows::<4>(self, tile, activations, first, left);
                    avx2::tile_rows::<4>(self, tile, activations, first + 4, right);
                }
                _ => {
                    for (row, out) in out.chunks_exact_mut(ROWS).enumerate() {
                        match isa {
                            Isa::Avx512Vnni => avx512::tile_rows::<1>(self, tile, activations, first + row, out),
                            Isa::Avx2 => avx2::tile_rows::<1>(self, tile, activations, first + row, out),
                        }
                    }
                }
            }
        }
    }
}

/// `x` (`[…, inputs]`) times the transpose of `weight`, by the form of the kernel `isa`.
pub(super) fn matmul(isa: Isa, weight: &TiledBlocks, x: &Tensor) -> Result<Tensor> {
    super::compact::on_rows(x, weight.outputs, |lhs, rows| Ok(weight.matmul_rows(isa, lhs, rows)))
}

/// Rows of activations quantized to signed bytes in blocks of 32, as GGML's Q8_0: a scale
/// each block, and the block's sum, which the kernel takes off times the weights' offset.
struct Activations {
    rows: usize,
    quants: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<i32>,
}

impl Activations {
    fn quantize(lhs: &[f32], rows: usize, inputs: usize) -> Activations {
        let blocks = rows * inputs / BLOCK;
        let (mut quants, mut scales, mut sums) = (vec![0i8; rows * inputs], vec![0f32; blocks], vec![0i32; blocks]);
        let blocks_of = lhs.par_chunks_exact(BLOCK).zip(quants.par_chunks_exact_mut(BLOCK));
        blocks_of.zip(scales.par_iter_mut()).zip(sums.par_iter_mut()).for_each(|(((values, quants), scale), sum)| {
            let largest = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            *scale = largest / 127.0;
            let inverse = if *scale > 0.0 { 1.0 / *scale } else { 0.0 };
            for (quant, value) in quants.iter_mut().zip(values) {
                *quant = (value * inverse).round() as i8;
                *sum += *quant as i32;
            }
        });
        Activations { rows, quants, scales, sums }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::*;
    use std::ptr::read_unaligned;

    use super::{Activations, Kind, TiledBlocks, BLOCK, ROWS};

    /// `out[r * 16..][..16]` = row `first + r` of the activations times the tile's 16 rows.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI; `tile` is one of the weight's tiles, rows
    /// `first..first + N` are rows of `activations` (quantized at the weight's width), and
    /// `out` holds `N * 16` values.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile_rows<const N: usize>(
        weight: &TiledBlocks,
        tile: usize,
        activations: &Activations,
        first: usize,
        out: &mut [f32],
    ) {
        let blocks = weight.inputs / BLOCK;
        let tile_bytes = weight.kind.tile_bytes();
        let (low_bits, fifth_bit) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x10));
        let mut sums = [_mm512_setzero_ps(); N];
        for b in 0..blocks {
            let at = tile * blocks + b;
            let quants = weight.quants.as_ptr().add(at * tile_bytes);
            let mut groups = [_mm512_setzero_si512(); 8];
            match weight.kind {
                Kind::Q8_0 => {
                    for (g, group) in groups.iter_mut().enumerate() {
                        *group = _mm512_loadu_si512(quants.add(g * 64) as *const _);
                    }
                }
                Kind::Q5_0 | Kind::Q4K => {
                    for pair in 0..4 {
                        let both = _mm512_loadu_si512(quants.add(pair * 64) as *const _);
                        let first = _mm512_and_si512(both, low_bits);
                        let second = _mm512_and_si512(_mm512_srli_epi16::<4>(both), low_bits);
                        if weight.kind == Kind::Q4K {
                            (groups[2 * pair], groups[2 * pair + 1]) = (first, second);
                            continue;
                        }
                        let fifths = quants.add(ROWS * BLOCK / 2) as *const u64;
                        let (mask_first, mask_second) = (read_unaligned(fifths.add(2 * pair)), read_unaligned(fifths.add(2 * pair + 1)));
                        groups[2 * pair] = _mm512_mask_add_epi8(first, mask_first, first, fifth_bit);
                        groups[2 * pair + 1] = _mm512_mask_add_epi8(second, mask_second, second, fifth_bit);
                    }
                }
            }
            // The 16 rows' scales, and Q4_K's mins (`dmin·min`; zero for the other kinds).
            let stored = _mm256_loadu_si256(weight.scales.as_ptr().add(at * ROWS) as *const __m256i);
            let (scales, mins) = match weight.kind {
                Kind::Q4K => {
                    let factors = weight.factors.as_ptr().add(weight.factors_at(tile, b));
                    let d = _mm512_cvtph_ps(_mm256_loadu_si256(factors as *const __m256i));
                    let dmin = _mm512_cvtph_ps(_mm256_loadu_si256(factors.add(ROWS) as *const __m256i));
                    let packed = _mm512_cvtepu16_epi32(stored);
                    let scale = _mm512_cvtepi32_ps(_mm512_and_si512(packed, _mm512_set1_epi32(0xFF)));
                    let min = _mm512_cvtepi32_ps(_mm512_srli_epi32::<8>(packed));
                    (_mm512_mul_ps(d, scale), _mm512_mul_ps(dmin, min))
                }
                _ => (_mm512_cvtph_ps(stored), _mm512_setzero_ps()),
            };
            let offset = weight.kind.offset();
            for (n, sum) in sums.iter_mut().enumerate() {
                let row_block = (first + n) * blocks + b;
                let bytes = activations.quants.as_ptr().add(row_block * BLOCK) as *const i32;
                let block_sum = *activations.sums.get_unchecked(row_block);
                // Starting from minus the offset times the activations' sum leaves the dot
                // product with the weights' signed values.
                let mut dot = _mm512_set1_epi32(-offset * block_sum);
                for (g, group) in groups.iter().enumerate() {
                    dot = _mm512_dpbusd_epi32(dot, *group, _mm512_set1_epi32(read_unaligned(bytes.add(g))));
                }
                let activation_scale = *activations.scales.get_unchecked(row_block);
                let scale = _mm512_mul_ps(scales, _mm512_set1_ps(activation_scale));
                *sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, *sum);
                if weight.kind == Kind::Q4K {
                    *sum = _mm512_fnmadd_ps(mins, _mm512_set1_ps(activation_scale * block_sum as f32), *sum);
                }
            }
        }
        for (n, sum) in sums.iter().enumerate() {
            _mm512_storeu_ps(out.as_mut_ptr().add(n * ROWS), *sum);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use std::arch::x86_64::*;
    use std::ptr::read_unaligned;

    use super::{Activations, Kind, TiledBlocks, BLOCK, ROWS};

    /// As [`super::avx512::tile_rows`], in 256-bit registers: each group of four inputs is two
    /// registers of eight rows. `vpmaddubsw` multiplies unsigned by signed bytes into 16-bit
    /// pairs that saturate past 32,767, so Q8_0's quants go in signed (their magnitudes times
    /// the activations' signs: at most 2 × 127 × 127), and Q5_0's and Q4_K's unsigned (at most
    /// 2 × 31 × 127) with the offset, or Q4_K's mins, taken off as in the 512-bit form.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C; otherwise as [`super::avx512::tile_rows`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile_rows<const N: usize>(
        weight: &TiledBlocks,
        tile: usize,
        activations: &Activations,
        first: usize,
        out: &mut [f32],
    ) {
        let blocks = weight.inputs / BLOCK;
        let tile_bytes = weight.kind.tile_bytes();
        let (low_bits, fifth_bit, sign_bit) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x10), _mm256_set1_epi8(-128));
        let ones = _mm256_set1_epi16(1);
        // Byte j of a 32-bit mask to byte j of a register, then its bit (j mod 8) alone.
        let spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        let bit_of_byte = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        let mut sums = [[_mm256_setzero_ps(); 2]; N];
        // A block's 8 groups × 2 halves, as multiplied: Q8_0's signed quants and their
        // magnitudes, or Q5_0's five-bit and Q4_K's four-bit quants.
        let mut quants = [[_mm256_setzero_si256(); 2]; 8];
        let mut magnitudes = [[_mm256_setzero_si256(); 2]; 8];
        for b in 0..blocks {
            let at = tile * blocks + b;
            let stored = weight.quants.as_ptr().add(at * tile_bytes);
            for g in 0..8 {
                for half in 0..2 {
                    match weight.kind {
                        Kind::Q8_0 => {
                            let offset = _mm256_loadu_si256(stored.add(g * 64 + half * 32) as *const __m256i);
                            quants[g][half] = _mm256_xor_si256(offset, sign_bit);
                            magnitudes[g][half] = _mm256_abs_epi8(quants[g][half]);
                        }
                        Kind::Q5_0 | Kind::Q4K => {
                            let both = _mm256_loadu_si256(stored.add((g / 2) * 64 + half * 32) as *const __m256i);
                            let low = match g % 2 {
                                0 => _mm256_and_si256(both, low_bits),
                                _ => _mm256_and_si256(_mm256_srli_epi16::<4>(both), low_bits),
                            };
                            if weight.kind == Kind::Q4K {
                                quants[g][half] = low;
                                continue;
                            }
                            let fifths = read_unaligned(stored.add(ROWS * BLOCK / 2 + g * 8 + half * 4) as *const i32);
                            let bits = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(fifths), spread), bit_of_byte);
                            let set = _mm256_cmpeq_epi8(bits, bit_of_byte);
                            quants[g][half] = _mm256_or_si256(low, _mm256_and_si256(set, fifth_bit));
                        }
                    }
                }
            }
            // Each half's 8 rows' scales, and Q4_K's mins (`dmin·min`; zero for the other kinds).
            let scales_at = weight.scales.as_ptr().add(at * ROWS);
            let (mut scales, mut mins) = ([_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2]);
            for half in 0..2 {
                let stored = _mm_loadu_si128(scales_at.add(8 * half) as *const __m128i);
                if weight.kind != Kind::Q4K {
                    scales[half] = _mm256_cvtph_ps(stored);
                    continue;
                }
                let factors = weight.factors.as_ptr().add(weight.factors_at(tile, b) + 8 * half);
                let d = _mm256_cvtph_ps(_mm_loadu_si128(factors as *const __m128i));
                let dmin = _mm256_cvtph_ps(_mm_loadu_si128(factors.add(ROWS) as *const __m128i));
                let packed = _mm256_cvtepu16_epi32(stored);
                scales[half] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(packed, _mm256_set1_epi32(0xFF))));
                mins[half] = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_srli_epi32::<8>(packed)));
            }
            for (n, sum) in sums.iter_mut().enumerate() {
                let row_block = (first + n) * blocks + b;
                let bytes = activations.quants.as_ptr().add(row_block * BLOCK) as *const i32;
                let block_sum = *activations.sums.get_unchecked(row_block);
                let start = match weight.kind {
                    Kind::Q5_0 => -weight.kind.offset() * block_sum,
                    Kind::Q8_0 | Kind::Q4K => 0,
                };
                let mut dots = [_mm256_set1_epi32(start); 2];
                for g in 0..8 {
                    let four = _mm256_set1_epi32(read_unaligned(bytes.add(g)));
                    for half in 0..2 {
                        let pairs = match weight.kind {
                            Kind::Q8_0 => _mm256_maddubs_epi16(magnitudes[g][half], _mm256_sign_epi8(four, quants[g][half])),
                            Kind::Q5_0 | Kind::Q4K => _mm256_maddubs_epi16(quants[g][half], four),
                        };
                        dots[half] = _mm256_add_epi32(dots[half], _mm256_madd_epi16(pairs, ones));
                    }
                }
                let activation_scale = *activations.scales.get_unchecked(row_block);
                let scale = _mm256_set1_ps(activation_scale);
                let min_scale = _mm256_set1_ps(activation_scale * block_sum as f32);
                for half in 0..2 {
                    sum[half] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[half]), _mm256_mul_ps(scales[half], scale), sum[half]);
                    if weight.kind == Kind::Q4K {
                        sum[half] = _mm256_fnmadd_ps(mins[half], min_scale, sum[half]);
                    }
                }
            }
        }
        for (n, sum) in sums.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(n * ROWS), sum[0]);
            _mm256_storeu_ps(out.as_mut_ptr().add(n * ROWS + 8), sum[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module};

    use super::*;

    /// Values that repeat only after thousands of elements, centred on zero.
    fn values(count: usize, prime: usize, scale: f32) -> Vec<f32> {
        (0..count).map(|i| ((i * prime % 1013) as f32 / 1013.0 - 0.5) * scale).collect()
    }

    #[test]
    fn tiles_hold_the_stored_blocks_and_no_more() {
        let device = Device::Cpu;
        // Q4_K's super-blocks need a width that 256 divides.
        for (dtype, outputs, inputs) in [(GgmlDType::Q8_0, 37, 96), (GgmlDType::Q5_0, 37, 96), (GgmlDType::Q4K, 37, 512)] {
            let weight = Tensor::from_vec(values(outputs * inputs, 7919, 0.2), (outputs, inputs), &device).unwrap();
            let blocks = QTensor::quantize(&weight, dtype).unwrap();
            let tiled = TiledBlocks::new(&blocks).unwrap().unwrap();
            let stored = blocks.dequantize(&device).unwrap().to_vec2::<f32>().unwrap();
            // Read every weight back out of the tiles: scale × (quant − offset).
            let tile_bytes = tiled.kind.tile_bytes();
            for (output, stored_row) in stored.iter().enumerate() {
                let (tile, r) = (output / ROWS, output % ROWS);
                for (input, &stored_value) in stored_row.iter().enumerate() {
                    let (b, i) = (input / BLOCK, input % BLOCK);
                    let at = tile * (inputs / BLOCK) + b;
                    let bytes = &tiled.quants[at * tile_bytes..][..tile_bytes];
                    let (g, j) = (i / 4, i % 4);
                    let low = (bytes[((g / 2) * ROWS + r) * 4 + j] >> (4 * (g % 2))) & 0x0F;
                    let quant = match tiled.kind {
                        Kind::Q8_0 => bytes[(g * ROWS + r) * 4 + j] as i32,
                        Kind::Q5_0 => {
                            let bit = r * 4 + j;
                            let fifth = (bytes[ROWS * BLOCK / 2 + g * 8 + bit / 8] >> (bit % 8)) & 1;
                            (low | fifth << 4) as i32
                        }
                        Kind::Q4K => low as i32,
                    };
                    let f16 = |bits: u16| half::f16::from_bits(bits).to_f32();
                    let value = match tiled.kind {
                        // d·scale·q − dmin·min, in the order candle's dequantizing computes it.
                        Kind::Q4K => {
                            let factors = tiled.factors_at(tile, b);
                            let (d, dmin) = (f16(tiled.factors[factors + r]), f16(tiled.factors[factors + ROWS + r]));
                            let (scale, min) = (tiled.scales[at * ROWS + r] & 0xFF, tiled.scales[at * ROWS + r] >> 8);
                            d * scale as f32 * quant as f32 - dmin * min as f32
                        }
                        _ => f16(tiled.scales[at * ROWS + r]) * (quant - tiled.kind.offset()) as f32,
                    };
                    assert_eq!(value, stored_value, "{dtype:?} [{output}, {input}]");
                }
            }
            let stored_bytes = blocks.data().unwrap().len();
            let padded_rows = outputs.div_ceil(ROWS) * ROWS;
            let tiled_bytes = tiled.quants.len() + 2 * tiled.scales.len() + 2 * tiled.factors.len();
            // Q4_K's 12 bytes of 6-bit scales and mins become 16, one byte each: 148 for 144.
            let stored_per_row = match dtype {
                GgmlDType::Q4K => stored_bytes / outputs / Q4K_BYTES * (Q4K_BYTES + 4),
                _ => stored_bytes / outputs,
            };
            assert_eq!(tiled_bytes, stored_per_row * padded_rows, "{dtype:?}");
        }
    }

    #[test]
    fn the_tiled_kernel_multiplies_as_candles_kernels_do() {
        // Every form this CPU runs: AVX-512 VNNI where it has it, AVX2 on every x86 CPU CI has.
        let forms = runnable();
        eprintln!("forms of the tiled kernel this CPU runs, each tested: {forms:?}");
        assert!(!forms.is_empty() || !cfg!(target_arch = "x86_64"), "an x86-64 CPU without AVX2");
        let device = Device::Cpu;
        // 37 outputs: two whole tiles and a padded one; 11 rows: a group of 8 and 3 alone;
        // 896 inputs: Qwen2.5-0.5B's width, which candle's tiled kernels do not take; Q4_K at
        // 1024, a width its super-blocks of 256 divide.
        let (outputs, rows) = (37, 11);
        let max_diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        for (dtype, inputs) in [(GgmlDType::Q8_0, 896), (GgmlDType::Q5_0, 896), (GgmlDType::Q4K, 1024)] {
            let weight = Tensor::from_vec(values(outputs * inputs, 7919, 0.1), (outputs, inputs), &device).unwrap();
            let x = Tensor::from_vec(values(rows * inputs, 104_729, 2.0), (1, rows, inputs), &device).unwrap();
            let blocks = QTensor::quantize(&weight, dtype).unwrap();
            let exact = x.broadcast_matmul(&blocks.dequantize(&device).unwrap().t().unwrap()).unwrap();
            let tiles = TiledBlocks::new(&blocks).unwrap().unwrap();
            let ours: Vec<Tensor> = forms.iter().map(|&isa| matmul(isa, &tiles, &x).unwrap()).collect();
            let theirs = QMatMul::from_qtensor(blocks).unwrap().forward(&x).unwrap();
            let scale = exact.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            let theirs_error = max_diff(&theirs, &exact);
            for (isa, ours) in forms.iter().zip(&ours) {
                assert_eq!(ours.dims(), [1, rows, outputs]);
                let ours_error = max_diff(ours, &exact);
                eprintln!("{dtype:?}, {isa:?}: off the exact product by {ours_error}, candle's kernel by {theirs_error}, of {scale}");
                // The activations quantized as candle's per-row dot products quantize them (its
                // block scales rounded to f16, these kept in f32): errors of the same size.
                assert!(ours_error <= 1.25 * theirs_error + 1e-5 * scale, "{dtype:?} {isa:?}: {ours_error} against {theirs_error}");
                assert!(ours_error <= 0.02 * scale, "{dtype:?} {isa:?}: {ours_error} of {scale}");
            }
            // The forms differ only in the order of float additions.
            for pair in ours.windows(2) {
                assert!(max_diff(&pair[0], &pair[1]) <= 1e-5 * scale, "{dtype:?}: the forms disagree");
            }
        }
    }
}
