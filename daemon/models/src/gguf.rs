//! A GGUF reader: metadata, tensor directory and dequantisation (F32, F16, Q8_0,
//! Q4_0, Q4_1) to f32. Pure functions over a byte slice; every length and offset
//! from the file is checked, so a corrupt or truncated file is an error naming
//! what is wrong, never a panic (see the proptest at the bottom).

use std::collections::BTreeMap;

/// A value in the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any integer type.
    Int(i64),
    /// `u64` values above `i64::MAX`.
    UInt(u64),
    /// `f32` or `f64`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    Str(String),
    /// An array of values.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Int(i) => u64::try_from(*i).ok(),
            Self::UInt(u) => Some(*u),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Float(f) => Some(*f),
            Self::Int(i) => Some(*i as f64),
            Self::UInt(u) => Some(*u as f64),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array, if it is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// GGML tensor element types this reader can dequantise (ggml's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum TensorType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// Blocks of 32: f16 scale + 32 × 4-bit (x = d·(q − 8)).
    Q4_0,
    /// Blocks of 32: f16 scale, f16 min + 32 × 4-bit (x = d·q + m).
    Q4_1,
    /// Blocks of 32: f16 scale + 32 × i8 (x = d·q).
    Q8_0,
    /// Blocks of 32: f16 scale, 32 high bits + 32 × 4-bit (x = d·(q − 16)).
    Q5_0,
    /// Blocks of 32: f16 scale, f16 min, 32 high bits + 32 × 4-bit
    /// (x = d·q + m).
    Q5_1,
    /// Super-blocks of 256: f16 scale and min, eight 6-bit scales and mins
    /// (one pair per 32), 256 × 4-bit (x = d·sc·q − dmin·m).
    Q4_K,
    /// Super-blocks of 256: 256 × 6-bit (low 4 bits and high 2 apart),
    /// sixteen i8 scales (one per 16), f16 scale (x = d·sc·(q − 32)).
    Q6_K,
}

impl TensorType {
    fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            12 => Self::Q4_K,
            14 => Self::Q6_K,
            _ => return None,
        })
    }

    /// `(elements per block, bytes per block)`.
    pub(crate) fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q8_0 => (32, 34),
            Self::Q5_0 => (32, 22),
            Self::Q5_1 => (32, 24),
            Self::Q4_K => (256, 144),
            Self::Q6_K => (256, 210),
        }
    }
}

/// One tensor's directory entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// GGUF dimensions, fastest-varying first (so `[in, out]` for a weight that
    /// PyTorch stores as `[out, in]`).
    pub dims: Vec<usize>,
    /// Element type.
    pub kind: TensorType,
    /// Byte offset within the file.
    pub offset: usize,
    /// Byte length.
    pub len: usize,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// Why a GGUF file cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GgufError {
    /// Not a GGUF file at all.
    #[error("not a GGUF file (bad magic)")]
    Magic,
    /// A GGUF version this reader does not know.
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    Version(u32),
    /// The file ends early or a length points past its end.
    #[error("truncated or corrupt at byte {0}")]
    Truncated(usize),
    /// A metadata value has a type id this reader does not know.
    #[error("unknown metadata value type {0}")]
    ValueType(u32),
    /// A tensor uses a quantisation this reader cannot dequantise.
    #[error("tensor `{0}` has unsupported ggml type {1}")]
    TensorType(String, u32),
    /// A string is not UTF-8.
    #[error("invalid UTF-8 in a string at byte {0}")]
    Utf8(usize),
    /// A named tensor or key is absent, or has another shape than expected.
    #[error("{0}")]
    Missing(String),
}

/// A parsed GGUF file borrowing its bytes.
#[derive(Debug)]
pub struct Gguf<'a> {
    bytes: &'a [u8],
    /// Metadata by key.
    pub metadata: BTreeMap<String, Value>,
    /// Tensors by name.
    pub tensors: BTreeMap<String, TensorInfo>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], GgufError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(GgufError::Truncated(self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, GgufError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn len(&mut self) -> Result<usize, GgufError> {
        let at = self.pos;
        let n = self.u64()?;
        // Every counted item takes at least one byte: reject counts the file cannot hold.
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.bytes.len())
            .ok_or(GgufError::Truncated(at))
    }
    fn string(&mut self) -> Result<String, GgufError> {
        let n = self.len()?;
        let at = self.pos;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| GgufError::Utf8(at))
    }
    fn value(&mut self, kind: u32, depth: u32) -> Result<Value, GgufError> {
        Ok(match kind {
            0 => Value::Int(i64::from(self.u8()?)),
            1 => Value::Int(i64::from(self.u8()? as i8)),
            2 => Value::Int(i64::from(u16::from_le_bytes(
                self.take(2)?.try_into().expect("2"),
            ))),
            3 => Value::Int(i64::from(i16::from_le_bytes(
                self.take(2)?.try_into().expect("2"),
            ))),
            4 => Value::Int(i64::from(self.u32()?)),
            5 => Value::Int(i64::from(self.u32()? as i32)),
            6 => Value::Float(f64::from(f32::from_le_bytes(
                self.take(4)?.try_into().expect("4"),
            ))),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string()?),
            9 if depth < 4 => {
                let inner = self.u32()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    items.push(self.value(inner, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => {
                let v = self.u64()?;
                i64::try_from(v).map_or(Value::UInt(v), Value::Int)
            }
            11 => Value::Int(self.u64()? as i64),
            12 => Value::Float(f64::from_le_bytes(self.take(8)?.try_into().expect("8"))),
            other => return Err(GgufError::ValueType(other)),
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parses the header, metadata and tensor directory.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, GgufError> {
        let mut c = Cursor { bytes, pos: 0 };
        if c.take(4).map_err(|_| GgufError::Magic)? != b"GGUF" {
            return Err(GgufError::Magic);
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version(version));
        }
        let n_tensors = c.len()?;
        let n_kv = c.len()?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string()?;
            let kind = c.u32()?;
            metadata.insert(key, c.value(kind, 0)?);
        }
        let mut raw = Vec::with_capacity(n_tensors.min(1 << 16));
        for _ in 0..n_tensors {
            let name = c.string()?;
            let n_dims = c.u32()? as usize;
            if n_dims > 4 {
                return Err(GgufError::Truncated(c.pos));
            }
            let mut dims = Vec::with_capacity(n_dims);
            for _ in 0..n_dims {
                dims.push(c.len()?);
            }
            let type_id = c.u32()?;
            let kind = TensorType::from_id(type_id)
                .ok_or_else(|| GgufError::TensorType(name.clone(), type_id))?;
            let offset = c.len()?;
            raw.push((name, dims, kind, offset));
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .filter(|a| *a > 0 && *a <= 1 << 16)
            .unwrap_or(32) as usize;
        let data_start = c.pos.div_ceil(alignment) * alignment;
        let mut tensors = BTreeMap::new();
        for (name, dims, kind, offset) in raw {
            let elements = dims
                .iter()
                .try_fold(1usize, |acc, d| acc.checked_mul(*d))
                .ok_or(GgufError::Truncated(offset))?;
            let (per_block, block_bytes) = kind.block();
            if elements % per_block != 0 {
                return Err(GgufError::Missing(format!(
                    "tensor `{name}`: {elements} elements is not a whole number of blocks"
                )));
            }
            let len = (elements / per_block)
                .checked_mul(block_bytes)
                .ok_or(GgufError::Truncated(offset))?;
            let start = data_start
                .checked_add(offset)
                .ok_or(GgufError::Truncated(offset))?;
            if start.checked_add(len).is_none_or(|end| end > bytes.len()) {
                return Err(GgufError::Truncated(start));
            }
            tensors.insert(
                name,
                TensorInfo {
                    dims,
                    kind,
                    offset: start,
                    len,
                },
            );
        }
        Ok(Self {
            bytes,
            metadata,
            tensors,
        })
    }

    /// A metadata value, or an error naming the key.
    pub fn get(&self, key: &str) -> Result<&Value, GgufError> {
        self.metadata
            .get(key)
            .ok_or_else(|| GgufError::Missing(format!("metadata key `{key}` is missing")))
    }

    /// A tensor's directory entry and its bytes as stored.
    pub fn raw(&self, name: &str) -> Option<(&TensorInfo, &'a [u8])> {
        let info = self.tensors.get(name)?;
        Some((info, &self.bytes[info.offset..info.offset + info.len]))
    }

    /// A tensor's directory entry and bytes as stored, checked against `dims`
    /// (GGUF order).
    pub fn checked(
        &self,
        name: &str,
        dims: &[usize],
    ) -> Result<(&TensorInfo, &'a [u8]), GgufError> {
        let info = self
            .tensors
            .get(name)
            .ok_or_else(|| GgufError::Missing(format!("tensor `{name}` is missing")))?;
        if info.dims != dims {
            return Err(GgufError::Missing(format!(
                "tensor `{name}` has dims {:?}, expected {dims:?}",
                info.dims
            )));
        }
        Ok((info, &self.bytes[info.offset..info.offset + info.len]))
    }

    /// A tensor dequantised to f32, checked against `dims` (GGUF order).
    pub fn f32(&self, name: &str, dims: &[usize]) -> Result<Vec<f32>, GgufError> {
        let (info, bytes) = self.checked(name, dims)?;
        Ok(dequantize(info.kind, bytes))
    }
}

/// Dequantises whole blocks of `kind` to f32.
pub fn dequantize(kind: TensorType, data: &[u8]) -> Vec<f32> {
    let (per_block, block_bytes) = kind.block();
    let mut out = vec![0.0; data.len() / block_bytes * per_block];
    for (block, w) in data
        .chunks_exact(block_bytes)
        .zip(out.chunks_exact_mut(per_block))
    {
        dequantize_block_into(kind, block, w);
    }
    out
}

/// One block of `kind` (`kind.block().1` bytes) into its `kind.block().0`
/// weights.
fn dequantize_block_into(kind: TensorType, block: &[u8], out: &mut [f32]) {
    match kind {
        TensorType::F32 => out[0] = f32::from_le_bytes([block[0], block[1], block[2], block[3]]),
        TensorType::F16 => out[0] = f16_to_f32(u16::from_le_bytes([block[0], block[1]])),
        TensorType::Q8_0 => {
            let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
            for (w, q) in out.iter_mut().zip(&block[2..34]) {
                *w = d * f32::from(*q as i8);
            }
        }
        TensorType::Q4_0 | TensorType::Q4_1 => {
            let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
            let (m, offset, qs) = if kind == TensorType::Q4_1 {
                let m = f16_to_f32(u16::from_le_bytes([block[2], block[3]]));
                (m, 0.0, &block[4..20])
            } else {
                (0.0, 8.0, &block[2..18])
            };
            // Low nibbles are elements 0..16, high nibbles 16..32.
            let (low, high) = out.split_at_mut(16);
            for ((l, h), q) in low.iter_mut().zip(high).zip(qs) {
                *l = d * (f32::from(q & 0x0f) - offset) + m;
                *h = d * (f32::from(q >> 4) - offset) + m;
            }
        }
        TensorType::Q5_0 | TensorType::Q5_1 => {
            let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
            let (m, rest) = if kind == TensorType::Q5_1 {
                (
                    f16_to_f32(u16::from_le_bytes([block[2], block[3]])),
                    &block[4..],
                )
            } else {
                (0.0, &block[2..])
            };
            let high = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
            let qs = &rest[4..20];
            // Weight i: a nibble as in Q4 (low ones first), its fifth
            // bit bit i of `high`.
            let q = |i: usize| {
                let low = if i < 16 {
                    qs[i] & 0x0f
                } else {
                    qs[i - 16] >> 4
                };
                f32::from(low | ((((high >> i) & 1) as u8) << 4))
            };
            for (i, w) in out.iter_mut().enumerate() {
                *w = if kind == TensorType::Q5_1 {
                    d * q(i) + m
                } else {
                    d * (q(i) - 16.0)
                };
            }
        }
        TensorType::Q4_K => dequantize_q4_k(block, out),
        TensorType::Q6_K => dequantize_q6_k(block, out),
    }
}

/// One Q4_K super-block (144 bytes: `d`, `dmin`, 12 bytes of scales, 128 of
/// nibbles) as ggml lays it out: four runs of 64 weights, each the low then
/// the high nibbles of 32 bytes, with its own pair of 6-bit scales and mins.
fn dequantize_q4_k(block: &[u8], out: &mut [f32]) {
    let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
    let dmin = f16_to_f32(u16::from_le_bytes([block[2], block[3]]));
    let scales = &block[4..16];
    // Scale and min `j` of 8: the first four in the low 6 bits of bytes
    // 0..4 and 4..8, the last four split between bytes 8..12 and the top
    // 2 bits of bytes 0..8.
    let scale_min = |j: usize| -> (f32, f32) {
        let (sc, m) = if j < 4 {
            (scales[j] & 63, scales[j + 4] & 63)
        } else {
            (
                (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4),
                (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
            )
        };
        (d * f32::from(sc), dmin * f32::from(m))
    };
    for ((run, qs), y) in block[16..144]
        .chunks_exact(32)
        .enumerate()
        .zip(out.chunks_exact_mut(64))
    {
        let (d1, m1) = scale_min(2 * run);
        let (d2, m2) = scale_min(2 * run + 1);
        let (low, high) = y.split_at_mut(32);
        for ((l, h), q) in low.iter_mut().zip(high).zip(qs) {
            *l = d1 * f32::from(q & 0x0f) - m1;
            *h = d2 * f32::from(q >> 4) - m2;
        }
    }
}

/// One Q6_K super-block (210 bytes: 128 of low nibbles, 64 of high bit
/// pairs, 16 i8 scales, `d`) as ggml lays it out: two halves of 128
/// weights, each four runs of 32 built from the same 64 low and 32 high
/// bytes.
fn dequantize_q6_k(block: &[u8], y: &mut [f32]) {
    let d = f16_to_f32(u16::from_le_bytes([block[208], block[209]]));
    for half in 0..2 {
        let ql = &block[half * 64..][..64];
        let qh = &block[128 + half * 32..][..32];
        let sc = &block[192 + half * 8..][..8];
        let y = &mut y[half * 128..][..128];
        for l in 0..32 {
            let is = l / 16;
            let q =
                |low: u8, shift: u8| f32::from((low | (((qh[l] >> shift) & 3) << 4)) as i8 - 32);
            let scale = |k: usize| d * f32::from(sc[is + k] as i8);
            y[l] = scale(0) * q(ql[l] & 0x0f, 0);
            y[l + 32] = scale(2) * q(ql[l + 32] & 0x0f, 2);
            y[l + 64] = scale(4) * q(ql[l] >> 4, 4);
            y[l + 96] = scale(6) * q(ql[l + 32] >> 4, 6);
        }
    }
}

/// IEEE 754 half to single precision (subnormals, infinities and NaN included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let shift = frac.leading_zeros() - 21;
            let frac = (frac << shift) & 0x3ff;
            sign | ((113 - shift) << 23) | (frac << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_quant_blocks_dequantise_as_llama_cpp_does() {
        // Written by scripts/k_quants_fixture.py with llama.cpp's gguf-py.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/k_quants.json"
        );
        let fixture: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for (name, kind) in [
            ("Q5_0", TensorType::Q5_0),
            ("Q5_1", TensorType::Q5_1),
            ("Q4_K", TensorType::Q4_K),
            ("Q6_K", TensorType::Q6_K),
        ] {
            let case = &fixture[name];
            let hex = case["hex"].as_str().unwrap();
            let raw: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            assert_eq!(raw.len() % kind.block().1, 0, "{name}: whole blocks");
            let want: Vec<f32> = case["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let got = dequantize(kind, &raw);
            assert_eq!(got.len(), want.len(), "{name}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                // The same f32 operations in the same order: bit for bit.
                assert_eq!(g.to_bits(), w.to_bits(), "{name}[{i}]: {g} vs {w}");
            }
        }
    }

    #[test]
    fn half_precision_conversions() {
        for (h, f) in [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x7bff, 65504.0),
            (0x0001, 5.960_464_5e-8),
            (0x0000, 0.0),
            (0x3555, 0.333_251_95),
        ] {
            assert_eq!(f16_to_f32(h), f, "{h:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }

    #[test]
    fn q4_1_and_q8_0_blocks_dequantise_in_ggml_order() {
        // d = 0.5, m = 1.0; byte i holds element i (low) and i + 16 (high).
        let mut block = vec![0x00, 0x38, 0x00, 0x3c];
        block.extend((0..16u8).map(|i| (15 - i) << 4 | i));
        let out = dequantize(TensorType::Q4_1, &block);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[15], 0.5 * 15.0 + 1.0);
        assert_eq!(out[16], 0.5 * 15.0 + 1.0);
        assert_eq!(out[31], 1.0);
        let mut block = vec![0x00, 0x40]; // d = 2
        block.extend((0..32).map(|i: i32| (i - 16) as i8 as u8));
        let out = dequantize(TensorType::Q8_0, &block);
        assert_eq!((out[0], out[16], out[31]), (-32.0, 0.0, 30.0));
    }

    fn tiny_file() -> Vec<u8> {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend(1u64.to_le_bytes()); // tensors
        f.extend(2u64.to_le_bytes()); // kv
        let string = |f: &mut Vec<u8>, s: &str| {
            f.extend((s.len() as u64).to_le_bytes());
            f.extend(s.as_bytes());
        };
        string(&mut f, "general.architecture");
        f.extend(8u32.to_le_bytes());
        string(&mut f, "llama");
        string(&mut f, "tokens");
        f.extend(9u32.to_le_bytes());
        f.extend(8u32.to_le_bytes());
        f.extend(2u64.to_le_bytes());
        string(&mut f, "a");
        string(&mut f, "b");
        string(&mut f, "w");
        f.extend(2u32.to_le_bytes());
        f.extend(2u64.to_le_bytes());
        f.extend(1u64.to_le_bytes());
        f.extend(0u32.to_le_bytes()); // F32
        f.extend(0u64.to_le_bytes());
        while !f.len().is_multiple_of(32) {
            f.push(0);
        }
        f.extend(1.5f32.to_le_bytes());
        f.extend((-2.0f32).to_le_bytes());
        f
    }

    #[test]
    fn parses_metadata_and_tensors() {
        let bytes = tiny_file();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(
            g.get("general.architecture").unwrap().as_str(),
            Some("llama")
        );
        assert_eq!(g.get("tokens").unwrap().as_array().unwrap().len(), 2);
        assert_eq!(g.f32("w", &[2, 1]).unwrap(), vec![1.5, -2.0]);
        assert!(
            g.f32("w", &[1, 2])
                .unwrap_err()
                .to_string()
                .contains("expected [1, 2]")
        );
        assert!(g.get("nope").is_err());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = tiny_file();
        for cut in 0..bytes.len() {
            assert!(Gguf::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn corrupt_bytes_never_panic(flips in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 1..8)) {
            let mut bytes = tiny_file();
            for (at, value) in flips {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            if let Ok(g) = Gguf::parse(&bytes) {
                for (name, info) in &g.tensors {
                    let _ = g.f32(name, &info.dims.clone());
                }
            }
        }
    }
}
