//! A read-only reader of bbolt files (BuildKit's `metadata_v2.db`), small enough to
//! trust: the file is read into memory once (dockerd keeps writing it and holds its
//! lock, which this never takes), the newer of the two meta pages whose checksum holds
//! gives the root, and every offset, length, page id and depth is checked before use,
//! so a damaged or half-written file is an error, never a panic or a loop.
//!
//! Format (bbolt 1.3, little-endian): a page starts with a 16-byte header (id u64,
//! flags u16, count u16, overflow u32) and spans `overflow + 1` pages. Pages 0 and 1
//! are meta pages: magic, version, page size, flags, root bucket (root page u64,
//! sequence u64), freelist page, high-water page id, txid, and an FNV-1a checksum of
//! the fields before it. Branch pages hold 16-byte elements (pos u32, ksize u32, page
//! u64); leaf pages hold 16-byte elements (flags u32, pos u32, ksize u32, vsize u32),
//! `pos` counted from the element itself. A leaf value flagged as a bucket starts with
//! the bucket's root page; root 0 means the bucket's own page follows inline.

const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BUCKET_HEADER: usize = 16;
const META_SIZE: usize = 64;
/// Bytes of the meta page covered by its checksum (the fields before it).
const META_CHECKED: usize = 56;
const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const BUCKET_LEAF_FLAG: u32 = 0x01;
/// Page sizes bbolt may have used when meta page 0 is unreadable.
const PAGE_SIZES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// A B+tree this deep would hold more keys than any file could.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoltError {
    #[error("not a bbolt database (no valid meta page)")]
    NotBolt,
    #[error("damaged bbolt database: {0}")]
    Damaged(String),
}

fn damaged(why: impl Into<String>) -> BoltError {
    BoltError::Damaged(why.into())
}

/// Where a bucket's tree starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Root {
    Page(u64),
    /// The bucket's single page, stored inside its parent's value: `data[start..end]`.
    Inline {
        start: usize,
        end: usize,
    },
}

/// A leaf entry: a plain value, or a nested bucket.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    Data(&'a [u8]),
    Bucket(Root),
}

pub(crate) struct Bolt {
    data: Vec<u8>,
    page_size: usize,
    /// Pages at or past this id were never allocated.
    high_water: u64,
    root: Root,
}

#[derive(Clone, Copy, Debug)]
struct Meta {
    page_size: usize,
    root: u64,
    high_water: u64,
    txid: u64,
}

impl Bolt {
    pub(crate) fn parse(data: Vec<u8>) -> Result<Bolt, BoltError> {
        let meta0 = meta_at(&data, 0);
        let page_size = match meta0 {
            Some(m) => Some(m.page_size),
            None => PAGE_SIZES
                .into_iter()
                .find(|&ps| meta_at(&data, ps).is_some_and(|m| m.page_size == ps)),
        };
        let page_size = page_size.ok_or(BoltError::NotBolt)?;
        let meta1 = meta_at(&data, page_size).filter(|m| m.page_size == page_size);
        let meta = match (meta0, meta1) {
            (Some(a), Some(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Some(m), None) | (None, Some(m)) => m,
            (None, None) => return Err(BoltError::NotBolt),
        };
        Ok(Bolt {
            data,
            page_size,
            high_water: meta.high_water,
            root: Root::Page(meta.root),
        })
    }

    pub(crate) fn root(&self) -> Root {
        self.root
    }

    /// The nested bucket `name` directly under `parent`.
    pub(crate) fn bucket(&self, parent: Root, name: &[u8]) -> Result<Option<Root>, BoltError> {
        let mut found = None;
        self.for_each(parent, &mut |key, value| {
            if key == name
                && let Value::Bucket(root) = value
            {
                found = Some(root);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Calls `f` for every entry of the bucket at `root`, in key order.
    pub(crate) fn for_each<'a>(
        &'a self,
        root: Root,
        f: &mut dyn FnMut(&'a [u8], Value<'a>) -> Result<(), BoltError>,
    ) -> Result<(), BoltError> {
        // Every page can be visited once per tree; more means a cycle.
        let mut budget = self.data.len() / self.page_size + 1;
        self.walk(root, 0, &mut budget, f)
    }

    fn walk<'a>(
        &'a self,
        root: Root,
        depth: usize,
        budget: &mut usize,
        f: &mut dyn FnMut(&'a [u8], Value<'a>) -> Result<(), BoltError>,
    ) -> Result<(), BoltError> {
        if depth > MAX_DEPTH {
            return Err(damaged(format!("a tree deeper than {MAX_DEPTH} levels")));
        }
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| damaged("its pages refer to each other in a loop"))?;
        let (page, base, what) = self.node(root)?;
        let flags = u16_at(page, 8)?;
        let count = usize::from(u16_at(page, 10)?);
        if PAGE_HEADER + count * ELEMENT > page.len() {
            return Err(damaged(format!(
                "{what} claims {count} elements, more than fit"
            )));
        }
        for i in 0..count {
            let e = PAGE_HEADER + i * ELEMENT;
            if flags & BRANCH_PAGE != 0 {
                let child = u64_at(page, e + 8)?;
                self.walk(Root::Page(child), depth + 1, budget, f)?;
            } else if flags & LEAF_PAGE != 0 {
                let eflags = u32_at(page, e)?;
                let pos = u32_at(page, e + 4)? as usize;
                let ksize = u32_at(page, e + 8)? as usize;
                let vsize = u32_at(page, e + 12)? as usize;
                let kstart = e
                    .checked_add(pos)
                    .ok_or_else(|| damaged(format!("{what}: element {i} is out of range")))?;
                let vstart = kstart.checked_add(ksize);
                let vend = vstart.and_then(|v| v.checked_add(vsize));
                let (Some(vstart), Some(vend)) = (vstart, vend) else {
                    return Err(damaged(format!("{what}: element {i} is out of range")));
                };
                if vend > page.len() {
                    return Err(damaged(format!("{what}: element {i} runs past its page")));
                }
                let key = &page[kstart..vstart];
                let value = &page[vstart..vend];
                if eflags & BUCKET_LEAF_FLAG != 0 {
                    f(
                        key,
                        Value::Bucket(self.bucket_root(value, base + vstart, &what)?),
                    )?;
                } else {
                    f(key, Value::Data(value))?;
                }
            } else {
                return Err(damaged(format!("{what} is neither a branch nor a leaf")));
            }
        }
        Ok(())
    }

    /// The root of a bucket whose header is `value`, found at `abs` in the file.
    fn bucket_root(&self, value: &[u8], abs: usize, what: &str) -> Result<Root, BoltError> {
        if value.len() < BUCKET_HEADER {
            return Err(damaged(format!("{what}: a bucket header is cut short")));
        }
        match u64_at(value, 0)? {
            0 if value.len() >= BUCKET_HEADER + PAGE_HEADER => Ok(Root::Inline {
                start: abs + BUCKET_HEADER,
                end: abs + value.len(),
            }),
            0 => Err(damaged(format!("{what}: an inline bucket is cut short"))),
            page => Ok(Root::Page(page)),
        }
    }

    /// The bytes of a node, where they start in the file, and how messages name it.
    fn node(&self, root: Root) -> Result<(&[u8], usize, String), BoltError> {
        match root {
            Root::Inline { start, end } => {
                let bytes = self
                    .data
                    .get(start..end)
                    .ok_or_else(|| damaged("an inline bucket is out of range"))?;
                Ok((bytes, start, "an inline bucket".to_string()))
            }
            Root::Page(id) => {
                let what = format!("page {id}");
                // Pages 0 and 1 are the meta pages; nothing points at them.
                if id < 2 || id >= self.high_water {
                    return Err(damaged(format!(
                        "a reference to {what}, outside the pages in use (2..{})",
                        self.high_water
                    )));
                }
                let start = usize::try_from(id)
                    .ok()
                    .and_then(|i| i.checked_mul(self.page_size))
                    .filter(|&s| s + PAGE_HEADER <= self.data.len())
                    .ok_or_else(|| {
                        damaged(format!("{what} is past the end of the file (cut short?)"))
                    })?;
                let header = &self.data[start..start + PAGE_HEADER];
                if u64_at(header, 0)? != id {
                    return Err(damaged(format!("{what} carries another page's id")));
                }
                let overflow = u32_at(header, 12)? as usize;
                let end = overflow
                    .checked_add(1)
                    .and_then(|n| n.checked_mul(self.page_size))
                    .and_then(|span| start.checked_add(span))
                    .filter(|&e| e <= self.data.len())
                    .ok_or_else(|| {
                        damaged(format!("{what} runs past the end of the file (cut short?)"))
                    })?;
                Ok((&self.data[start..end], start, what))
            }
        }
    }
}

/// The meta page at `offset`, when its magic, version, checksum and page size hold.
fn meta_at(data: &[u8], offset: usize) -> Option<Meta> {
    let m = data.get(offset + PAGE_HEADER..offset + PAGE_HEADER + META_SIZE)?;
    let magic = u32_at(m, 0).ok()?;
    let version = u32_at(m, 4).ok()?;
    let page_size = u32_at(m, 8).ok()? as usize;
    if magic != MAGIC || version != VERSION {
        return None;
    }
    if fnv1a64(&m[..META_CHECKED]) != u64_at(m, META_CHECKED).ok()? {
        return None;
    }
    if !page_size.is_power_of_two() || !(512..=1 << 20).contains(&page_size) {
        return None;
    }
    Some(Meta {
        page_size,
        root: u64_at(m, 16).ok()?,
        high_water: u64_at(m, 40).ok()?,
        txid: u64_at(m, 48).ok()?,
    })
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, BoltError> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or_else(|| damaged("a field is cut short"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, BoltError> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| damaged("a field is cut short"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, BoltError> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| damaged("a field is cut short"))
}

/// Writes small bbolt files for tests: every bucket inline or on its own leaf page.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    pub(crate) const PS: usize = 4096;

    pub(crate) enum Item {
        Data(Vec<u8>, Vec<u8>),
        Bucket(Vec<u8>, Vec<Item>),
    }

    pub(crate) fn data(k: &str, v: &str) -> Item {
        Item::Data(k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    pub(crate) fn bucket(k: &str, items: Vec<Item>) -> Item {
        Item::Bucket(k.as_bytes().to_vec(), items)
    }

    /// A leaf page's bytes (header id `id`) holding `items`, nested buckets inline.
    pub(crate) fn leaf(id: u64, items: &[Item]) -> Vec<u8> {
        let mut elems = Vec::new();
        let mut payload = Vec::new();
        for item in items {
            let (flags, key, value) = match item {
                Item::Data(k, v) => (0u32, k.clone(), v.clone()),
                Item::Bucket(k, inner) => {
                    let mut v = vec![0u8; BUCKET_HEADER];
                    v.extend(leaf(0, inner));
                    (BUCKET_LEAF_FLAG, k.clone(), v)
                }
            };
            elems.push((flags, payload.len(), key.len(), value.len()));
            payload.extend(key);
            payload.extend(value);
        }
        let mut page = Vec::new();
        page.extend(id.to_le_bytes());
        page.extend(LEAF_PAGE.to_le_bytes());
        page.extend((items.len() as u16).to_le_bytes());
        page.extend(0u32.to_le_bytes());
        let elems_end = PAGE_HEADER + items.len() * ELEMENT;
        for (i, (flags, off, k, v)) in elems.iter().enumerate() {
            let pos = elems_end + off - (PAGE_HEADER + i * ELEMENT);
            page.extend(flags.to_le_bytes());
            page.extend((pos as u32).to_le_bytes());
            page.extend((*k as u32).to_le_bytes());
            page.extend((*v as u32).to_le_bytes());
        }
        page.extend(payload);
        page
    }

    pub(crate) fn meta(id: u64, root: u64, high_water: u64, txid: u64) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend(MAGIC.to_le_bytes());
        m.extend(VERSION.to_le_bytes());
        m.extend((PS as u32).to_le_bytes());
        m.extend(0u32.to_le_bytes());
        m.extend(root.to_le_bytes());
        m.extend(0u64.to_le_bytes());
        m.extend(0u64.to_le_bytes());
        m.extend(high_water.to_le_bytes());
        m.extend(txid.to_le_bytes());
        let sum = fnv1a64(&m);
        m.extend(sum.to_le_bytes());
        let mut page = Vec::new();
        page.extend(id.to_le_bytes());
        page.extend(0x04u16.to_le_bytes());
        page.extend(0u16.to_le_bytes());
        page.extend(0u32.to_le_bytes());
        page.extend(m);
        page
    }

    /// A file whose root leaf (page 2) holds `items`; further pages are `extra`.
    pub(crate) fn file(items: &[Item], extra: &[Vec<u8>]) -> Vec<u8> {
        let pages = 3 + extra.len() as u64;
        let mut out = Vec::new();
        for p in [meta(0, 2, pages, 1), meta(1, 2, pages, 2), leaf(2, items)]
            .into_iter()
            .chain(extra.iter().cloned())
        {
            assert!(p.len() <= PS, "test page too big");
            let mut p = p;
            p.resize(PS, 0);
            out.extend(p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn keys(db: &Bolt, root: Root) -> Vec<String> {
        let mut out = Vec::new();
        db.for_each(root, &mut |k, v| {
            let tag = match v {
                Value::Data(d) => format!("={}", String::from_utf8_lossy(d)),
                Value::Bucket(_) => "/".to_string(),
            };
            out.push(format!("{}{tag}", String::from_utf8_lossy(k)));
            Ok(())
        })
        .unwrap();
        out
    }

    fn sample() -> Vec<u8> {
        file(
            &[
                bucket("_index", vec![data("cache-dir:/a::r1", "")]),
                bucket("_main", vec![bucket("r1", vec![data("k", "v")])]),
            ],
            &[],
        )
    }

    #[test]
    fn nested_inline_buckets_are_read() {
        let db = Bolt::parse(sample()).unwrap();
        assert_eq!(keys(&db, db.root()), ["_index/", "_main/"]);
        let main = db.bucket(db.root(), b"_main").unwrap().unwrap();
        let r1 = db.bucket(main, b"r1").unwrap().unwrap();
        assert_eq!(keys(&db, r1), ["k=v"]);
        assert_eq!(db.bucket(db.root(), b"nope").unwrap(), None);
    }

    #[test]
    fn the_newer_valid_meta_wins_and_a_broken_one_is_skipped() {
        // Meta 1 (txid 2) points at page 3, meta 0 (txid 1) at page 2.
        let mut f = file(&[data("old", "1")], &[leaf(3, &[data("new", "2")])]);
        let mut m1 = meta(1, 3, 4, 2);
        m1.resize(PS, 0);
        f[PS..2 * PS].copy_from_slice(&m1);
        let db = Bolt::parse(f.clone()).unwrap();
        assert_eq!(keys(&db, db.root()), ["new=2"]);
        // A torn meta 1 (checksum off) leaves meta 0.
        f[PS + PAGE_HEADER + 20] ^= 0xff;
        let db = Bolt::parse(f.clone()).unwrap();
        assert_eq!(keys(&db, db.root()), ["old=1"]);
        // And a torn meta 0 leaves meta 1, found by trying page sizes.
        let mut g = file(&[data("x", "1")], &[]);
        g[PAGE_HEADER + 3] ^= 0xff;
        let db = Bolt::parse(g).unwrap();
        assert_eq!(keys(&db, db.root()), ["x=1"]);
    }

    #[test]
    fn what_is_not_bbolt_is_said_so() {
        assert_eq!(Bolt::parse(Vec::new()).err(), Some(BoltError::NotBolt));
        assert_eq!(
            Bolt::parse(vec![0u8; 3 * PS]).err(),
            Some(BoltError::NotBolt)
        );
        assert_eq!(
            Bolt::parse(b"SQLite format 3\0".repeat(1000)).err(),
            Some(BoltError::NotBolt)
        );
    }

    #[test]
    fn damage_is_an_error_never_a_panic_or_a_loop() {
        // Cut short: the root page is missing.
        let mut f = sample();
        f.truncate(2 * PS + 10);
        assert!(
            matches!(Bolt::parse(f).unwrap().for_each(Root::Page(2), &mut |_, _| Ok(())), Err(BoltError::Damaged(m)) if m.contains("past the end"))
        );

        // A branch page that points at itself.
        let mut branch = Vec::new();
        branch.extend(3u64.to_le_bytes());
        branch.extend(BRANCH_PAGE.to_le_bytes());
        branch.extend(1u16.to_le_bytes());
        branch.extend(0u32.to_le_bytes());
        branch.extend(16u32.to_le_bytes());
        branch.extend(1u32.to_le_bytes());
        branch.extend(3u64.to_le_bytes());
        branch.push(b'k');
        let db = Bolt::parse(file(&[], &[branch])).unwrap();
        let e = db.for_each(Root::Page(3), &mut |_, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("loop"), "{e}");

        // Out-of-range pages and elements.
        let db = Bolt::parse(sample()).unwrap();
        for root in [
            Root::Page(0),
            Root::Page(1),
            Root::Page(99),
            Root::Page(u64::MAX),
        ] {
            assert!(db.for_each(root, &mut |_, _| Ok(())).is_err(), "{root:?}");
        }
        assert!(
            db.for_each(
                Root::Inline {
                    start: usize::MAX - 4,
                    end: usize::MAX
                },
                &mut |_, _| Ok(())
            )
            .is_err()
        );
        let mut f = sample();
        // Element 0 of the root leaf: a key size far past the page.
        f[2 * PS + PAGE_HEADER + 8..2 * PS + PAGE_HEADER + 12]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        let db = Bolt::parse(f).unwrap();
        assert!(db.for_each(db.root(), &mut |_, _| Ok(())).is_err());
    }

    #[test]
    fn every_single_byte_flip_and_cut_is_survived() {
        let f = sample();
        let visit = |bytes: Vec<u8>| {
            if let Ok(db) = Bolt::parse(bytes) {
                let _ = db.for_each(db.root(), &mut |_, v| {
                    if let Value::Bucket(r) = v {
                        let _ = db.for_each(r, &mut |_, _| Ok(()));
                    }
                    Ok(())
                });
            }
        };
        for i in (2 * PS..2 * PS + 200).chain(0..120) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut g = f.clone();
                g[i] ^= flip;
                visit(g);
            }
        }
        for len in (0..f.len()).step_by(97) {
            visit(f[..len].to_vec());
        }
    }
}
