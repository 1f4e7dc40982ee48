// SPDX-License-Identifier: MIT
// qshm's Windows syscall layer: plain C++ over Win32, no Node-API types and no policy. Each
// function returns a non-negative result on success and -GetLastError() on failure, so the
// binding (win32_binding.cc) hands the Windows error code to TypeScript unchanged
// (lib/errors.ts maps it to Qt's error once).
#pragma once
#include <cstddef>
#include <cstdint>

namespace qshm {
namespace win {

// Handles cross into JavaScript as numbers: a HANDLE value fits a double exactly.
using Handle = void*;

// ---- files (CreateFileW and friends) ----
// CreateFileW(path, access, share, nullptr, disposition, flagsAndAttributes, nullptr).
int64_t FileCreate(const wchar_t* path, uint32_t access, uint32_t share, uint32_t disposition,
                   uint32_t flags);
// SetFilePointerEx(size) + SetEndOfFile: the file's size.
int FileSetSize(Handle file, int64_t size);
// SetFileInformationByHandle(FileAllocationInfo): reserve disk space (fails with ERROR_DISK_FULL).
int FileAllocate(Handle file, int64_t size);
// GetFileSizeEx.
int64_t FileSize(Handle file);
int HandleClose(Handle h);

// ---- file mappings (sections) ----
// CreateFileMappingW(file or INVALID_HANDLE_VALUE when file is null, nullptr, protect,
// size >> 32, size & 0xffffffff, name or nullptr). *last gets GetLastError() (ERROR_ALREADY_EXISTS
// with a valid handle when the name existed). Returns the handle or -error.
int64_t MappingCreate(Handle file, uint32_t protect, uint64_t size, const wchar_t* name,
                      uint32_t* last);
// OpenFileMappingW(access, FALSE, name).
int64_t MappingOpen(uint32_t access, const wchar_t* name);
// MapViewOfFile(mapping, access, offset, size). *err gets GetLastError() when null is returned.
void* ViewMap(Handle mapping, uint32_t access, uint64_t offset, size_t size, uint32_t* err);
int ViewUnmap(void* addr);
// VirtualQuery(addr).RegionSize, or -error.
int64_t ViewRegionSize(const void* addr);

// ---- named synchronisation objects ----
// CreateMutexW(nullptr, initialOwner, name); *last as for CreateFileMapping.
int64_t MutexCreate(const wchar_t* name, bool initialOwner, uint32_t* last);
// OpenMutexW(SYNCHRONIZE | MUTEX_MODIFY_STATE, FALSE, name).
int64_t MutexOpen(const wchar_t* name);
int MutexRelease(Handle h);
// CreateSemaphoreW(nullptr, initial, maximum, name); *last as for CreateFileMapping.
int64_t SemaphoreCreate(const wchar_t* name, int32_t initial, int32_t maximum, uint32_t* last);
// OpenSemaphoreW(SYNCHRONIZE | SEMAPHORE_MODIFY_STATE, FALSE, name).
int64_t SemaphoreOpen(const wchar_t* name);
// ReleaseSemaphore(h, count, &previous): the previous count, or -error (ERROR_TOO_MANY_POSTS).
int64_t SemaphoreRelease(Handle h, int32_t count);
// WaitForSingleObject(h, ms < 0 or not finite ? INFINITE : ms): WAIT_OBJECT_0 (0),
// WAIT_ABANDONED (0x80), WAIT_TIMEOUT (0x102), or -error for WAIT_FAILED.
int64_t HandleWait(Handle h, double ms);
// DuplicateHandle within this process (same access), for waits that outlive the caller's handle.
int64_t HandleDuplicate(Handle h);

// ---- system facts ----
uint32_t PageSize();
uint32_t AllocationGranularity();

}  // namespace win
}  // namespace qshm
