//! Pickled NumPy arrays, read without executing the pickle: a small pickle machine that knows
//! only the opcodes NumPy's pickles use (protocols 2 to 4) and only the three globals an array is
//! rebuilt from (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`), which it
//! turns into inert records of shape, dtype and bytes. Any other global, opcode or shape is a
//! one-line error; nothing in the file is ever called.
//!
//! What it reads: a list (or tuple) of little-endian `float32` arrays in C order, as SeqGAN's
//! `target_params_py3.pkl` holds its oracle's parameters.

use std::collections::HashMap;

use crate::{Error, Result};

/// One array: its shape and its raw little-endian `float32` bytes, C order.
#[derive(Clone, Debug, PartialEq)]
pub struct F32Array {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl F32Array {
    /// The values.
    pub fn values(&self) -> Vec<f32> {
        self.data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

/// The callables a NumPy pickle names, and nothing else.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Global {
    Reconstruct,
    Ndarray,
    Dtype,
}

/// What the machine's stack holds.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Global(Global),
    /// An array being rebuilt (object `id`): empty until its `BUILD`.
    Array {
        id: usize,
        array: Option<F32Array>,
    },
    /// A dtype being rebuilt (object `id`): `f4` until its `BUILD` says the byte order.
    Dtype {
        id: usize,
        little_endian: Option<bool>,
    },
    Mark,
}

/// Reads the arrays of a pickle; `origin` names it in errors.
pub fn read_f32_arrays(bytes: &[u8], origin: &str) -> Result<Vec<F32Array>> {
    Machine::new(bytes, origin).run()
}

/// The identity of an object that `BUILD` changes in place.
fn object_id(value: &Value) -> Option<usize> {
    match value {
        Value::Array { id, .. } | Value::Dtype { id, .. } => Some(*id),
        _ => None,
    }
}

/// A value in a few words (never its contents: an error line stays one short line).
fn describe(value: &Value) -> &'static str {
    match value {
        Value::None => "None",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Str(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Tuple(_) => "a tuple",
        Value::List(_) => "a list",
        Value::Global(Global::Reconstruct) => "numpy's _reconstruct",
        Value::Global(Global::Ndarray) => "numpy.ndarray",
        Value::Global(Global::Dtype) => "numpy.dtype",
        Value::Array { .. } => "an array",
        Value::Dtype { .. } => "a dtype",
        Value::Mark => "a mark",
    }
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    origin: &'a str,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
    /// Objects made so far: `BUILD` changes an object in place, and the memo refers to it.
    objects: usize,
}

/// More than any NumPy pickle of a few arrays needs; bounds memory on hostile input.
const MAX_STACK: usize = 1 << 16;

impl<'a> Machine<'a> {
    fn new(input: &'a [u8], origin: &'a str) -> Self {
        Self {
            input,
            pos: 0,
            origin,
            stack: Vec::new(),
            memo: HashMap::new(),
            objects: 0,
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Invalid(format!(
            "{}: byte {}: {message} (only pickled NumPy float32 arrays are read)",
            self.origin, self.pos
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| self.error("truncated pickle"))?;
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length field of the input, bounded by what is left of it.
    fn len(&mut self, n: u64) -> Result<usize> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.input.len() - self.pos)
            .ok_or_else(|| self.error("a length past the end of the pickle"))
    }

    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.input[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.error("truncated pickle"))?;
        let line = std::str::from_utf8(&rest[..end])
            .map_err(|_| self.error("a name that is not UTF-8"))?;
        self.pos += end + 1;
        Ok(line)
    }

    fn push(&mut self, value: Value) -> Result<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.error("stack too deep"));
        }
        self.stack.push(value);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value> {
        match self.stack.pop() {
            Some(Value::Mark) | None => Err(self.error("stack underflow")),
            Some(v) => Ok(v),
        }
    }

    /// The values above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let mark = self
            .stack
            .iter()
            .rposition(|v| *v == Value::Mark)
            .ok_or_else(|| self.error("no mark"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }

    fn global(&mut self, module: &str, name: &str) -> Result<Value> {
        let global = match (module, name) {
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
                Global::Reconstruct
            }
            ("numpy", "ndarray") => Global::Ndarray,
            ("numpy", "dtype") => Global::Dtype,
            _ => return Err(self.error(format!("global `{module}.{name}` is not allowed"))),
        };
        Ok(Value::Global(global))
    }

    fn run(mut self) -> Result<Vec<F32Array>> {
        loop {
            let opcode = self.u8()?;
            match opcode {
                0x80 => {
                    // PROTO
                    let version = self.u8()?;
                    if !(2..=5).contains(&version) {
                        return Err(self.error(format!("pickle protocol {version}")));
                    }
                }
                0x95 => {
                    // FRAME: a length prefix only.
                    self.u64()?;
                }
                b'.' => return self.finish(),
                b'(' => self.push(Value::Mark)?,
                b']' => self.push(Value::List(Vec::new()))?,
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)))?
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)))?
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)))?
                }
                b'X' | 0x8c => {
                    let n = if opcode == b'X' {
                        u64::from(self.u32()?)
                    } else {
                        u64::from(self.u8()?)
                    };
                    let n = self.len(n)?;
                    let bytes = self.take(n)?;
                    let s = std::str::from_utf8(bytes)
                        .map_err(|_| self.error("a string that is not UTF-8"))?;
                    self.push(Value::Str(s.to_string()))?
                }
                b'C' | b'B' | 0x8e => {
                    let n = match opcode {
                        b'C' => u64::from(self.u8()?),
                        b'B' => u64::from(self.u32()?),
                        _ => self.u64()?,
                    };
                    let n = self.len(n)?;
                    let bytes = self.take(n)?.to_vec();
                    self.push(Value::Bytes(bytes))?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let global = self.global(module, name)?;
                    self.push(global)?
                }
                0x93 => {
                    // STACK_GLOBAL
                    let (Value::Str(name), Value::Str(module)) = (self.pop()?, self.pop()?) else {
                        return Err(self.error("a global named by something other than strings"));
                    };
                    let global = self.global(&module, &name)?;
                    self.push(global)?
                }
                b'q' | b'r' | 0x94 => {
                    // BINPUT, LONG_BINPUT, MEMOIZE
                    let index = match opcode {
                        b'q' => u32::from(self.u8()?),
                        b'r' => self.u32()?,
                        _ => self.memo.len() as u32,
                    };
                    let top = self
                        .stack
                        .last()
                        .cloned()
                        .ok_or_else(|| self.error("stack underflow"))?;
                    if self.memo.len() >= MAX_STACK {
                        return Err(self.error("memo too large"));
                    }
                    self.memo.insert(index, top);
                }
                b'h' | b'j' => {
                    let index = if opcode == b'h' {
                        u32::from(self.u8()?)
                    } else {
                        self.u32()?
                    };
                    let value = self
                        .memo
                        .get(&index)
                        .cloned()
                        .ok_or_else(|| self.error(format!("memo {index} is not set")))?;
                    self.push(value)?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?
                }
                0x85..=0x87 => {
                    let n = usize::from(opcode - 0x84);
                    if self.stack.len() < n {
                        return Err(self.error("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    if items.contains(&Value::Mark) {
                        return Err(self.error("stack underflow"));
                    }
                    self.push(Value::Tuple(items))?
                }
                b'a' => {
                    let item = self.pop()?;
                    match self.stack.last_mut() {
                        Some(Value::List(list)) => list.push(item),
                        _ => return Err(self.error("append to something that is not a list")),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.stack.last_mut() {
                        Some(Value::List(list)) => list.extend(items),
                        _ => return Err(self.error("append to something that is not a list")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let value = self.reduce(callable, args)?;
                    self.push(value)?
                }
                b'b' => {
                    let state = self.pop()?;
                    let object = self.pop()?;
                    let value = self.build(object, state)?;
                    // The memo holds the object itself: it sees the change.
                    if let Some(id) = object_id(&value) {
                        for remembered in self.memo.values_mut() {
                            if object_id(remembered) == Some(id) {
                                *remembered = value.clone();
                            }
                        }
                    }
                    self.push(value)?
                }
                other => return Err(self.error(format!("opcode 0x{other:02x} is not allowed"))),
            }
        }
    }

    /// `_reconstruct(ndarray, (0,), b'b')` and `dtype('f4', False, True)`: nothing else is called.
    fn reduce(&mut self, callable: Value, args: Value) -> Result<Value> {
        self.objects += 1;
        let id = self.objects;
        let Value::Tuple(args) = args else {
            return Err(self.error("call arguments that are not a tuple"));
        };
        match (callable, args.as_slice()) {
            (
                Value::Global(Global::Reconstruct),
                [Value::Global(Global::Ndarray), Value::Tuple(_), Value::Bytes(_)],
            ) => Ok(Value::Array { id, array: None }),
            (Value::Global(Global::Dtype), [Value::Str(kind), ..]) if kind == "f4" => {
                Ok(Value::Dtype {
                    id,
                    little_endian: None,
                })
            }
            (Value::Global(Global::Dtype), [Value::Str(kind), ..]) => {
                Err(self.error(format!("dtype `{kind}` (float32, `f4`, only)")))
            }
            (callable, _) => Err(self.error(format!(
                "a call of {} with these arguments",
                describe(&callable)
            ))),
        }
    }

    /// An array's state `(1, shape, dtype, fortran_order, bytes)`, or a dtype's
    /// `(3, byte_order, ...)`.
    fn build(&self, object: Value, state: Value) -> Result<Value> {
        let Value::Tuple(state) = state else {
            return Err(self.error("an object state that is not a tuple"));
        };
        match (object, state.as_slice()) {
            (Value::Dtype { id, .. }, [Value::Int(3), Value::Str(order), ..]) => {
                let little_endian = match order.as_str() {
                    "<" | "|" => true,
                    "=" => cfg!(target_endian = "little"),
                    ">" => false,
                    other => return Err(self.error(format!("byte order `{other}`"))),
                };
                Ok(Value::Dtype {
                    id,
                    little_endian: Some(little_endian),
                })
            }
            (
                Value::Array { id, array: None },
                [Value::Int(1), Value::Tuple(shape), Value::Dtype { little_endian, .. }, fortran, Value::Bytes(data)],
            ) => {
                if *little_endian != Some(true) {
                    return Err(self.error("a big-endian or incomplete dtype"));
                }
                if !matches!(fortran, Value::Bool(false) | Value::Int(0)) {
                    return Err(self.error("an array in Fortran order"));
                }
                let shape = shape
                    .iter()
                    .map(|d| match d {
                        Value::Int(n) => usize::try_from(*n).ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<usize>>>()
                    .ok_or_else(|| self.error("a shape that is not non-negative integers"))?;
                let bytes = shape
                    .iter()
                    .try_fold(4usize, |acc, &d| acc.checked_mul(d))
                    .ok_or_else(|| self.error("a shape too large"))?;
                if bytes != data.len() {
                    return Err(self.error(format!(
                        "shape {shape:?} needs {bytes} bytes of float32, the pickle has {}",
                        data.len()
                    )));
                }
                Ok(Value::Array {
                    id,
                    array: Some(F32Array {
                        shape,
                        data: data.clone(),
                    }),
                })
            }
            (object, _) => Err(self.error(format!(
                "the state of {} is not an array's",
                describe(&object)
            ))),
        }
    }

    /// The pickled object: a list or tuple of complete arrays.
    fn finish(mut self) -> Result<Vec<F32Array>> {
        let top = self.pop()?;
        let (Value::List(items) | Value::Tuple(items)) = top else {
            return Err(self.error("the pickled object is not a list of arrays"));
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::Array {
                    array: Some(array), ..
                } => Ok(array),
                _ => Err(self.error("the pickled list holds something other than arrays")),
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A protocol-3 pickle of a list of float32 arrays, laid out as NumPy writes one (of the
    /// memo, only the shared dtype).
    pub(crate) fn pickle(arrays: &[(Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let mut p = vec![0x80, 3, b']', b'('];
        let mut first = true;
        for (shape, values) in arrays {
            p.extend(b"cnumpy.core.multiarray\n_reconstruct\n");
            p.extend(b"cnumpy\nndarray\n");
            p.extend([b'K', 0, 0x85, b'C', 1, b'b', 0x87, b'R']);
            p.extend([b'(', b'K', 1, b'(']);
            for &d in shape {
                p.push(b'J');
                p.extend((d as u32).to_le_bytes());
            }
            p.push(b't');
            if first {
                // The dtype is remembered before its state is set, and fetched again for every
                // later array (as NumPy writes it): the memo must see the state.
                p.extend(b"cnumpy\ndtype\n");
                p.extend([
                    b'X', 2, 0, 0, 0, b'f', b'4', b'K', 0, b'K', 1, 0x87, b'R', b'q', 11,
                ]);
                p.extend([b'(', b'K', 3, b'X', 1, 0, 0, 0, b'<', b'N', b'N', b'N']);
                p.extend([
                    b'J', 0xff, 0xff, 0xff, 0xff, b'J', 0xff, 0xff, 0xff, 0xff, b'K', 0, b't', b'b',
                ]);
                first = false;
            } else {
                p.extend([b'h', 11]);
            }
            p.push(0x89);
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            p.push(b'B');
            p.extend((bytes.len() as u32).to_le_bytes());
            p.extend(bytes);
            p.extend([b't', b'b']);
        }
        p.extend([b'e', b'.']);
        p
    }

    #[test]
    fn arrays_come_back_with_their_shapes_and_values() {
        let arrays = vec![
            (vec![2, 3], vec![1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]),
            (vec![4], vec![9.0; 4]),
        ];
        let read = read_f32_arrays(&pickle(&arrays), "p.pkl").unwrap();
        assert_eq!(read.len(), 2);
        for (got, (shape, values)) in read.iter().zip(&arrays) {
            assert_eq!(&got.shape, shape);
            assert_eq!(&got.values(), values);
        }
    }

    fn refused(bytes: &[u8], needle: &str) {
        let err = read_f32_arrays(bytes, "bad.pkl").unwrap_err().to_string();
        assert!(
            err.starts_with("bad.pkl: byte ") && err.contains(needle),
            "{needle}: {err}"
        );
        assert!(!err.contains('\n') && err.len() < 300, "{err}");
    }

    #[test]
    fn anything_but_numpy_arrays_is_refused_without_being_run() {
        // The classic: os.system("...") through GLOBAL + REDUCE, and the same through STACK_GLOBAL.
        refused(
            b"\x80\x03cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R.",
            "global `os.system` is not allowed",
        );
        refused(
            b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.",
            "global `builtins.eval` is not allowed",
        );
        // Opcodes outside NumPy's pickles (INST, OBJ, PERSID, EXT1).
        for op in [b'i', b'o', b'P', 0x82] {
            refused(&[0x80, 3, op, b'.'], "is not allowed");
        }
        // numpy.dtype of another kind, a numpy global called with other arguments.
        refused(
            b"\x80\x03cnumpy\ndtype\nX\x02\x00\x00\x00f8K\x00K\x01\x87R.",
            "dtype `f8`",
        );
        refused(b"\x80\x03cnumpy\nndarray\n)R.", "a call of numpy.ndarray");
        // A shape that does not match the bytes, and one that overflows.
        let mut wrong = pickle(&[(vec![2, 2], vec![1.0; 4])]);
        let at = wrong
            .windows(5)
            .position(|w| w == [b'J', 2, 0, 0, 0])
            .unwrap();
        wrong[at + 1] = 3;
        refused(
            &wrong,
            "shape [3, 2] needs 24 bytes of float32, the pickle has 16",
        );
        let mut huge = pickle(&[(vec![2, 2, 2], vec![1.0; 8])]);
        let dims: Vec<usize> = huge
            .windows(5)
            .enumerate()
            .filter(|(_, w)| *w == [b'J', 2, 0, 0, 0])
            .map(|(i, _)| i)
            .collect();
        for &w in &dims {
            huge[w + 1..w + 5].copy_from_slice(&(i32::MAX as u32).to_le_bytes());
        }
        refused(&huge, "a shape too large");
        huge[dims[0] + 1..dims[0] + 5].copy_from_slice(&u32::MAX.to_le_bytes());
        refused(&huge, "not non-negative integers");
        // Truncated input, a length past its end, a top object that is not a list of arrays.
        let whole = pickle(&[(vec![1], vec![1.0])]);
        refused(&whole[..whole.len() - 3], "truncated pickle");
        refused(b"\x80\x03B\xff\xff\xff\x7f.", "a length past the end");
        refused(b"\x80\x03K\x01.", "not a list of arrays");
        refused(b"\x80\x03]K\x01a.", "something other than arrays");
        refused(b"\x80\x03h\x05.", "memo 5 is not set");
        refused(b"\x80\x03.", "stack underflow");
    }
}
