//! A minimal FlatBuffers writer: just what a TensorFlow Lite model needs (tables of scalars and
//! offsets, strings, vectors of i32, of bytes and of tables).
//!
//! Objects are laid out front to back: a table first, then what it points to. FlatBuffers'
//! offsets are unsigned and counted from the field that holds them, so a child written after
//! its parent is always reachable; each table's vtable is written just before the table.

/// One field of a table.
#[derive(Debug, Clone)]
pub enum Field {
    U8(u8),
    I8(i8),
    Bool(bool),
    I32(i32),
    U32(u32),
    /// A string, vector or table, stored apart and referenced by offset.
    Obj(Obj),
}

/// An object that is referenced by offset.
#[derive(Debug, Clone)]
pub enum Obj {
    Table(Table),
    Str(String),
    Ints(Vec<i32>),
    Floats(Vec<f32>),
    /// A vector of 64-bit integers, its elements 8-aligned.
    Longs(Vec<i64>),
    /// A byte vector whose data starts at a multiple of `align` in the buffer (TFLite's
    /// `Buffer.data` is `force_align: 16`).
    Bytes {
        data: Vec<u8>,
        align: usize,
    },
    Tables(Vec<Table>),
}

/// A table: fields by slot number (the field's position in the schema; a union takes two slots,
/// its type then its value).
#[derive(Debug, Clone, Default)]
pub struct Table {
    fields: Vec<(u16, Field)>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn with(mut self, slot: u16, field: Field) -> Table {
        debug_assert!(
            self.fields.iter().all(|(s, _)| *s != slot),
            "slot {slot} twice"
        );
        self.fields.push((slot, field));
        self
    }

    pub fn obj(self, slot: u16, obj: Obj) -> Table {
        self.with(slot, Field::Obj(obj))
    }

    pub fn i32(self, slot: u16, v: i32) -> Table {
        self.with(slot, Field::I32(v))
    }
}

impl Field {
    fn size(&self) -> usize {
        match self {
            Field::U8(_) | Field::I8(_) | Field::Bool(_) => 1,
            Field::I32(_) | Field::U32(_) | Field::Obj(_) => 4,
        }
    }
}

/// The finished buffer of `root`, with a 4-byte file identifier (TFLite's is `TFL3`).
pub fn finish(root: &Table, identifier: &[u8; 4]) -> Vec<u8> {
    let mut w = Writer { buf: vec![0; 8] };
    w.buf[4..8].copy_from_slice(identifier);
    let root_pos = w.table(root);
    w.patch_offset(0, root_pos);
    w.buf
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Pads so that the next write lands at `pos` with `(pos + ahead) % align == 0`.
    fn pad(&mut self, align: usize, ahead: usize) {
        while !(self.buf.len() + ahead).is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes, at `at`, the offset from `at` to `target` (which lies after it).
    fn patch_offset(&mut self, at: usize, target: usize) {
        let off = u32::try_from(target - at).expect("a model under 4 GiB");
        self.buf[at..at + 4].copy_from_slice(&off.to_le_bytes());
    }

    /// A vector of `count` scalars given as little-endian bytes, its elements `align`-aligned.
    fn scalars(&mut self, align: usize, count: usize, bytes: impl Iterator<Item = u8>) -> usize {
        self.pad(align, 4);
        let pos = self.buf.len();
        self.put_u32(count as u32);
        self.buf.extend(bytes);
        pos
    }

    fn obj(&mut self, obj: &Obj) -> usize {
        match obj {
            Obj::Table(t) => self.table(t),
            Obj::Str(s) => {
                self.pad(4, 0);
                let pos = self.buf.len();
                self.put_u32(s.len() as u32);
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(0);
                pos
            }
            Obj::Ints(v) => self.scalars(4, v.len(), v.iter().flat_map(|x| x.to_le_bytes())),
            Obj::Floats(v) => self.scalars(4, v.len(), v.iter().flat_map(|x| x.to_le_bytes())),
            Obj::Longs(v) => self.scalars(8, v.len(), v.iter().flat_map(|x| x.to_le_bytes())),
            Obj::Bytes { data, align } => {
                // The length is 4-aligned and the data right after it `align`-aligned.
                self.pad((*align).max(4), 4);
                let pos = self.buf.len();
                self.put_u32(data.len() as u32);
                self.buf.extend_from_slice(data);
                pos
            }
            Obj::Tables(tables) => {
                self.pad(4, 0);
                let pos = self.buf.len();
                self.put_u32(tables.len() as u32);
                let slots = self.buf.len();
                self.buf.resize(slots + 4 * tables.len(), 0);
                for (i, t) in tables.iter().enumerate() {
                    let child = self.table(t);
                    self.patch_offset(slots + 4 * i, child);
                }
                pos
            }
        }
    }

    fn table(&mut self, t: &Table) -> usize {
        // Inline layout: the vtable offset, then each field at its natural alignment.
        let mut offsets = Vec::with_capacity(t.fields.len());
        let mut size = 4usize;
        for (_, f) in &t.fields {
            let s = f.size();
            size = size.next_multiple_of(s);
            offsets.push(size);
            size += s;
        }
        let slots = t
            .fields
            .iter()
            .map(|(s, _)| *s as usize + 1)
            .max()
            .unwrap_or(0);
        let mut vtable = vec![0u16; 2 + slots];
        vtable[0] = (2 * vtable.len()) as u16;
        vtable[1] = size as u16;
        for ((slot, _), off) in t.fields.iter().zip(&offsets) {
            vtable[2 + *slot as usize] = *off as u16;
        }
        self.pad(2, 0);
        let vt_pos = self.buf.len();
        for v in &vtable {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.pad(4, 0);
        let pos = self.buf.len();
        // The table's first word: where its vtable is, counted backwards.
        self.buf
            .extend_from_slice(&((pos - vt_pos) as i32).to_le_bytes());
        self.buf.resize(pos + size, 0);
        let mut children = Vec::new();
        for ((_, f), off) in t.fields.iter().zip(&offsets) {
            let at = pos + off;
            match f {
                Field::U8(v) => self.buf[at] = *v,
                Field::I8(v) => self.buf[at] = *v as u8,
                Field::Bool(v) => self.buf[at] = *v as u8,
                Field::I32(v) => self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes()),
                Field::U32(v) => self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes()),
                Field::Obj(o) => children.push((at, o)),
            }
        }
        for (at, o) in children {
            let child = self.obj(o);
            self.patch_offset(at, child);
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// Reads the buffer back the way a FlatBuffers reader does: root offset, vtable, fields.
    #[test]
    fn a_table_reads_back_through_its_vtable() {
        let child = Table::new().i32(1, -7);
        let root = Table::new()
            .with(0, Field::U8(3))
            .obj(2, Obj::Str("abc".into()))
            .obj(3, Obj::Ints(vec![1, 2, 3]))
            .obj(4, Obj::Tables(vec![child]))
            .obj(
                5,
                Obj::Bytes {
                    data: vec![9; 5],
                    align: 16,
                },
            )
            .obj(6, Obj::Floats(vec![0.5, -2.0]))
            .obj(7, Obj::Longs(vec![-128, 7]));
        let b = finish(&root, b"TEST");
        assert_eq!(&b[4..8], b"TEST");
        let table = u32_at(&b, 0) as usize;
        let vt = table - i32::from_le_bytes(b[table..table + 4].try_into().unwrap()) as usize;
        let field = |slot: usize| u16::from_le_bytes([b[vt + 4 + 2 * slot], b[vt + 5 + 2 * slot]]);
        assert_eq!(b[table + field(0) as usize], 3);
        assert_eq!(field(1), 0, "an absent field has offset 0");
        let deref = |slot: usize| {
            let at = table + field(slot) as usize;
            at + u32_at(&b, at) as usize
        };
        let s = deref(2);
        assert_eq!(u32_at(&b, s), 3);
        assert_eq!(&b[s + 4..s + 8], b"abc\0");
        let v = deref(3);
        assert_eq!(u32_at(&b, v), 3);
        assert_eq!(u32_at(&b, v + 8), 2);
        let tables = deref(4);
        let t0 = tables + 4 + u32_at(&b, tables + 4) as usize;
        let vt0 = t0 - i32::from_le_bytes(b[t0..t0 + 4].try_into().unwrap()) as usize;
        let off = u16::from_le_bytes([b[vt0 + 6], b[vt0 + 7]]) as usize;
        assert_eq!(
            i32::from_le_bytes(b[t0 + off..t0 + off + 4].try_into().unwrap()),
            -7
        );
        let bytes = deref(5);
        assert_eq!((bytes + 4) % 16, 0, "the data is 16-aligned");
        let floats = deref(6);
        assert_eq!(u32_at(&b, floats), 2);
        let f = |at: usize| f32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        assert_eq!((f(floats + 4), f(floats + 8)), (0.5, -2.0));
        let longs = deref(7);
        assert_eq!(u32_at(&b, longs), 2);
        assert_eq!((longs + 4) % 8, 0, "64-bit elements are 8-aligned");
        let l = |at: usize| i64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        assert_eq!((l(longs + 4), l(longs + 12)), (-128, 7));
        assert_eq!(&b[bytes + 4..bytes + 9], &[9; 5]);
    }
}
