//! A process list on `PsActiveProcessHead`, for `!vm`'s process table.
//!
//! `_EPROCESS` offsets (`UniqueProcessId`, `ActiveProcessLinks`, `ImageFileName` (15 bytes),
//! `CommitCharge`, `SharedCommitCharge`) and sizes are taken from the public ntkrnlmp.pdb ISF file
//! of each real profile's build (JPCERTCC/Windows-Symbol-Tables, `shared/data/isf`), and for the
//! profiles with synthetic symbols from public dumps of their PDB types:
//! - XP SP3 x86: ntdiff/headers (`WinXP_SP3/x86/System32/ntdll.dll/Standalone/_EPROCESS.h`);
//! - 2000 SP4 x86: Microsoft's `!processfields` page (learn.microsoft.com, debuggercmds
//!   `-processfields`: its Windows 2000 sample lists `UniqueProcessId: 0x9c`,
//!   `ActiveProcessLinks: 0xa0`, `CommitCharge: 0xbc`, `ImageFileName[0]: 0x1fc`), size 0x290 from
//!   the `dt -a -b -v _EPROCESS` listing of 5.0.2195.7045 (forensikblog.de, 2005);
//! - 2003 SP2 x86 (and PAE: the `PageDirectoryPte` / `Filler` union before `Session` is 8 bytes in
//!   both kernels, so the offsets are the same): Volatility 2's `win2003_sp2_x86_vtypes.py`
//!   (`_EPROCESS` 0x278: 0x94, 0x98, 0x164, 0xb8 `unsigned long`);
//! - 2003 SP2 x64: Volatility 2's `win2003_sp2_x64_vtypes.py` (`_EPROCESS` 0x3e0: 0xd8, 0xe0,
//!   0x268, 0x120 `unsigned long long`).
//!
//! The walker's own table (`pooldbg_commands::vm::EPROCESS_FALLBACK`) cites the same sources; it is
//! checked against these models, so a wrong offset in one shows as a mismatch with the manifest.
//!
//! The list holds commit ties on purpose (WinDbg's order among equal commits is part of the
//! output: docs/COMMANDS.md `!vm`).

use crate::builder::Build;
use crate::manifest;

/// (UniqueProcessId, ActiveProcessLinks, ImageFileName, CommitCharge, SharedCommitCharge, size).
type EprocessOffsets = (u64, u64, u64, u64, Option<u64>, u64);

fn eprocess(profile: &str) -> Option<EprocessOffsets> {
    Some(match profile {
        // XP SP3 x86: public ntoskrnl PDB types as dumped in ntdiff/headers
        // (WinXP_SP3/x86/System32/ntdll.dll/Standalone/_EPROCESS.h); the profile's symbols are
        // synthetic, so a reader needs its own table for these (pooldbg: EPROCESS_FALLBACK).
        "xpsp3-x86" => (0x84, 0x88, 0x174, 0xa8, None, 0x260),
        // Microsoft's `!processfields` Windows 2000 sample; size from the 5.0.2195.7045 `dt`.
        "win2000-x86" => (0x9c, 0xa0, 0x1fc, 0xbc, None, 0x290),
        // Volatility 2 `win2003_sp2_x86_vtypes.py` (PAE: same offsets, see above).
        "win2003sp2-x86" | "win2003sp2-x86pae" => (0x94, 0x98, 0x164, 0xb8, None, 0x278),
        // Volatility 2 `win2003_sp2_x64_vtypes.py`.
        "win2003sp2-x64" => (0xd8, 0xe0, 0x268, 0x120, None, 0x3e0),
        "win7sp1-x64" => (0x180, 0x188, 0x2e0, 0x1b8, None, 0x4f8),
        "win81-x64" => (0x2e0, 0x2e8, 0x438, 0x4d0, None, 0x700),
        "win10-1607-x64" => (0x2e8, 0x2f0, 0x450, 0x4f0, Some(0x770), 0x7c8),
        "win10-1809-x64" => (0x2e0, 0x2e8, 0x450, 0x4f0, Some(0x778), 0x850),
        "win10-2004-x64" => (0x440, 0x448, 0x5a8, 0x648, Some(0x928), 0xa40),
        "win2022-x64" => (0x440, 0x448, 0x5a8, 0x648, Some(0x928), 0xbc0),
        "win11-21h2-x64" => (0x440, 0x448, 0x5a8, 0x648, Some(0x928), 0xb80),
        _ => return None,
    })
}

/// (`_EPROCESS.Session`, `_MM_SESSION_SPACE.SessionId`, `.NonPagablePages`, `.CommittedPages`,
/// `.PagedPoolInfo` + `_MM_PAGED_POOL_INFO.AllocatedPagedPool`), from the same ISF files.
type SessionOffsets = (u64, u64, u64, u64, u64);

fn session(profile: &str) -> Option<SessionOffsets> {
    Some(match profile {
        "win7sp1-x64" => (0x2d8, 0x8, 0x30, 0x38, 0xb98 + 0x60),
        "win81-x64" => (0x3f0, 0x8, 0x28, 0x30, 0xb98 + 0x60),
        "win10-1607-x64" => (0x400, 0x8, 0x28, 0x30, 0xb60 + 0x30),
        "win10-1809-x64" => (0x400, 0x8, 0x28, 0x30, 0xa0 + 0x30),
        "win10-2004-x64" | "win2022-x64" => (0x558, 0x8, 0x28, 0x30, 0xa8 + 0x10),
        "win11-21h2-x64" => (0x558, 0x8, 0x20, 0x28, 0xa0 + 0x10),
        _ => return None,
    })
}

/// The sessions: (id, paged pool pages, nonpaged pages, committed pages).
const SESSIONS: &[(u32, u64, u64, u64)] = &[(0, 0x2fd, 0x4f, 0x655), (1, 0, 0x51, 0x51)];

/// Which session each of [`PROCESSES`] belongs to (System and smss.exe to none).
const PROCESS_SESSION: &[Option<usize>] =
    &[None, None, Some(0), Some(0), Some(0), Some(0), Some(1)];

/// The processes, in list (creation) order: (pid, image name, commit pages, shared commit pages).
/// `smss.exe`, `wininit.exe` and `userinit.exe` tie on commit.
const PROCESSES: &[(u64, &str, u64, u64)] = &[
    (4, "System", 0x1c, 0),
    (0x1f0, "smss.exe", 0x12, 0),
    (0x2a8, "csrss.exe", 0x1a3, 0x5),
    (0x3e0, "wininit.exe", 0x12, 0),
    (0x830, "svchost.exe", 0x9c4, 0x40),
    (0x81c, "MsMpEng.exe", 0x6e1f, 0x73a),
    (0xf10, "userinit.exe", 0x12, 0),
];

impl Build {
    /// Links [`PROCESSES`] on `PsActiveProcessHead` (a circular `_LIST_ENTRY` list through
    /// `ActiveProcessLinks`) and records them in `vm`.
    pub(crate) fn write_processes(&mut self, vm: &mut manifest::Vm) {
        let (Some((pid, links, name, commit, shared, size)), Some(head)) =
            (eprocess(self.p.name), self.global("PsActiveProcessHead"))
        else {
            return;
        };
        let psz = self.p.arch.ptr_size();
        let eps: Vec<u64> = PROCESSES.iter().map(|_| self.sys_alloc(size, 16)).collect();
        let entry = |i: usize| -> u64 {
            match eps.get(i) {
                Some(ep) => ep + links,
                None => head,
            }
        };
        // The sessions, where the profile's layout is known.
        let sess = session(self.p.name);
        let session_va: Vec<u64> = match sess {
            Some((_, id, nonpaged, committed, paged)) => SESSIONS
                .iter()
                .map(|&(i, pp, np, cp)| {
                    let va = self.sys_alloc(0x1000, 0x1000);
                    self.s.wn(va + id, u64::from(i), 4);
                    self.s.ptr(va + nonpaged, np);
                    self.s.ptr(va + committed, cp);
                    self.s.ptr(va + paged, pp);
                    va
                })
                .collect(),
            None => Vec::new(),
        };
        let mut list = Vec::new();
        for (i, (&ep, &(p, n, c, sc))) in eps.iter().zip(PROCESSES).enumerate() {
            // The System process is PID 8 on Windows 2000, 4 from XP on.
            let p = if p == 4 && self.p.build < 2600 { 8 } else { p };
            self.s.ptr(ep + pid, p);
            let mut bytes = [0u8; 15];
            bytes[..n.len()].copy_from_slice(n.as_bytes());
            self.s.w(ep + name, &bytes);
            self.s.ptr(ep + commit, c);
            if let Some(o) = shared {
                self.s.ptr(ep + o, sc);
            }
            self.s.ptr(ep + links, entry(i + 1));
            let back = if i == 0 { head } else { entry(i - 1) };
            self.s.ptr(ep + links + psz, back);
            if let Some((ep_session, ..)) = sess {
                let va = PROCESS_SESSION
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|k| session_va.get(k).copied())
                    .unwrap_or(0);
                self.s.ptr(ep + ep_session, va);
            }
            list.push(manifest::Process {
                pid: p,
                image_name: n.into(),
                commit_pages: c,
                shared_commit_pages: shared.map(|_| sc),
            });
        }
        self.s.ptr(head, entry(0));
        self.s.ptr(head + psz, entry(eps.len() - 1));
        // `Total Private` is a line of WinDbg's Windows 7 and later layouts only (the seed's XP
        // sample has none).
        if self.p.build >= 7600 {
            vm.total_private_pages = Some(list.iter().map(|p| p.commit_pages).sum());
        }
        vm.processes = Some(list);
        if sess.is_some() {
            vm.sessions = Some(
                SESSIONS
                    .iter()
                    .map(
                        |&(session_id, paged_pool_pages, nonpaged_pages, commit_pages)| {
                            manifest::Session {
                                session_id,
                                paged_pool_pages,
                                nonpaged_pages,
                                commit_pages,
                            }
                        },
                    )
                    .collect(),
            );
            if self.p.build >= 7600 {
                vm.session_commit_pages = Some(SESSIONS.iter().map(|s| s.3).sum());
            }
        }
    }
}
