//! "Which loaded driver images contain this pool tag?": the host's answer to
//! `Target::find_tag_in_images` (the plugin ABI's `find_tag_in_images` entry).
//!
//! The images are read from the dump's memory at the bases the loaded-module list gives, one
//! module at a time into one reused buffer (at most [`MAX_IMAGE_BYTES`] of each, at most
//! [`MAX_TOTAL_BYTES`] in all), and searched with [`pooltag::find_tag_in_images`]. Pages the dump
//! does not hold stay zero: a searchable tag has no zero byte, so they cannot make a false hit.
//!
//! ```
//! use plugin_sdk::{MemoryTarget, TargetInfo};
//! use pooldbg_engine::images::{Image, search};
//!
//! let t = MemoryTarget::new(TargetInfo::default()).with_virtual(0x10000, b"MZ..Mine..Mine");
//! let images = [Image { name: "mine.sys".into(), base: 0x10000, size: 0x1000 }];
//! let hits = search(&t, &images, *b"Mine").unwrap();
//! assert_eq!((hits[0].module.as_str(), hits[0].hits), ("mine.sys", 2));
//! ```

use plugin_sdk::{ImageHit, ImageSearchError, Read, Target, tag_is_searchable};

const PAGE: u64 = 0x1000;
/// Pages per read batch.
const BATCH: u64 = 64;
/// The most of one image that is searched (64 MiB; ntoskrnl.exe is about 11 MiB). A larger size in
/// the module list is cut to this.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;
/// The most bytes searched for one tag over all images (1 GiB); modules past it are left out.
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// The most modules searched (the loaded-module list walk has its own bound; this one guards
/// against a list of many tiny entries).
pub const MAX_MODULES: usize = 4096;

/// One image to search: a loaded module's name, base and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The module's name (`ntfs.sys`).
    pub name: String,
    /// Image base (virtual).
    pub base: u64,
    /// Image size in bytes.
    pub size: u64,
}

/// Searches `images` (read through `target`'s virtual reads) for `tag`'s four bytes, plain or with
/// the protected bit: modules with a hit, most hits first, then by name. Reports progress per
/// module and stops with [`ImageSearchError::Cancelled`] when the target is cancelled.
pub fn search(
    target: &dyn Target,
    images: &[Image],
    tag: [u8; 4],
) -> Result<Vec<ImageHit>, ImageSearchError> {
    // The protected bit (0x80 in the fourth byte) is part of neither the tag nor the search key:
    // find_tag_in_images counts both forms.
    let plain = pooltag::Tag::from_u32(u32::from_le_bytes(tag) & !pooltag::PROTECTED_POOL);
    if !tag_is_searchable(plain.bytes()) {
        return Err(ImageSearchError::Unsearchable);
    }
    let images = &images[..images.len().min(MAX_MODULES)];
    let mut buf: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    let mut out = Vec::new();
    for (i, image) in images.iter().enumerate() {
        if target.is_cancelled() {
            return Err(ImageSearchError::Cancelled);
        }
        target.progress(i as u64, images.len() as u64, "searching driver images");
        let size = image.size.min(MAX_IMAGE_BYTES) & !(PAGE - 1);
        if size == 0 || image.base & (PAGE - 1) != 0 {
            continue;
        }
        total = total.saturating_add(size);
        if total > MAX_TOTAL_BYTES {
            break;
        }
        read_image(target, image.base, size, &mut buf);
        if let Ok(found) = pooltag::find_tag_in_images(plain, [(image.name.as_str(), &buf[..])]) {
            out.extend(found.into_iter().map(|c| ImageHit {
                module: c.module,
                hits: c.hits as u64,
            }));
        }
    }
    target.progress(
        images.len() as u64,
        images.len() as u64,
        "searching driver images",
    );
    out.sort_by(|x, y| y.hits.cmp(&x.hits).then_with(|| x.module.cmp(&y.module)));
    Ok(out)
}

/// Reads `size` bytes (a page multiple) at `base` into `buf`, zero where a page cannot be read.
fn read_image(target: &dyn Target, base: u64, size: u64, buf: &mut Vec<u8>) {
    buf.clear();
    // `size` is at most MAX_IMAGE_BYTES: a checked, bounded allocation.
    buf.resize(size as usize, 0);
    for (batch_index, chunk) in buf.chunks_mut((BATCH * PAGE) as usize).enumerate() {
        let start = base.wrapping_add(batch_index as u64 * BATCH * PAGE);
        let mut reads: Vec<Read<'_>> = chunk
            .chunks_mut(PAGE as usize)
            .enumerate()
            .map(|(i, c)| Read::new(start.wrapping_add(i as u64 * PAGE), c))
            .collect();
        target.read_virtual(&mut reads);
        for r in reads.iter_mut().filter(|r| !r.is_ok()) {
            r.buf.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::{MemoryTarget, ReadStatus, TargetInfo};

    fn image(name: &str, base: u64, size: u64) -> Image {
        Image {
            name: name.into(),
            base,
            size,
        }
    }

    #[test]
    fn finds_plain_and_protected_tags_and_skips_missing_pages() {
        let t = MemoryTarget::new(TargetInfo::default())
            .with_virtual(0x10000, b"MZ Abcd")
            // The tag across a page boundary, and with the protected bit.
            .with_virtual(0x10ffe, b"AbcdAbc\xe4")
            .with_virtual(0x20000, b"MZ Abcd Abcd Abcd")
            .with_virtual_status(0x21000, ReadStatus::NotInDump)
            .with_virtual(0x22000, b"Abcd")
            .with_virtual(0x30000, b"MZ nothing here");
        let images = [
            image("one.sys", 0x10000, 0x2000),
            image("three.sys", 0x20000, 0x3000),
            image("none.sys", 0x30000, 0x1000),
            image("unmapped.sys", 0x40000, 0x1000),
        ];
        let hits = search(&t, &images, *b"Abcd").unwrap();
        let got: Vec<(&str, u64)> = hits.iter().map(|h| (h.module.as_str(), h.hits)).collect();
        assert_eq!(got, [("three.sys", 4), ("one.sys", 3)]);
        // Asked with the protected bit set: the same answer.
        assert_eq!(search(&t, &images, *b"Abc\xe4").unwrap(), hits);
        let p = t.progress_reports();
        assert_eq!(p.last().map(|p| (p.done, p.total)), Some((4, 4)));
    }

    #[test]
    fn bounds_and_refusals() {
        let t = MemoryTarget::new(TargetInfo::default()).with_virtual(0x10000, b"Abcd");
        // A size past the cap is cut (the search still runs); an unaligned base is skipped.
        let images = [
            image("huge.sys", 0x10000, u64::MAX),
            image("odd.sys", 0x10004, 0x1000),
        ];
        let hits = search(&t, &images, *b"Abcd").unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].module, "huge.sys");
        assert_eq!(
            search(&t, &images, *b"Ab\0d"),
            Err(ImageSearchError::Unsearchable)
        );
        assert_eq!(
            search(&t, &images, *b"xxxx"),
            Err(ImageSearchError::Unsearchable)
        );
        t.cancel();
        assert_eq!(
            search(&t, &images, *b"Abcd"),
            Err(ImageSearchError::Cancelled)
        );
    }
}
