// SPDX-License-Identifier: MIT
// Win32 files, file mappings, named mutexes and semaphores: one Win32 call per function,
// results as documented in win32.h. See the Microsoft docs of CreateFileW,
// SetFileInformationByHandle, CreateFileMappingW, MapViewOfFile, CreateMutexW, CreateSemaphoreW
// and WaitForSingleObject.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include "win32.h"

namespace qshm {
namespace win {

namespace {
HANDLE H(Handle h) { return static_cast<HANDLE>(h); }
int64_t Err() { return -static_cast<int64_t>(GetLastError()); }
int64_t Out(HANDLE h) { return h ? static_cast<int64_t>(reinterpret_cast<uintptr_t>(h)) : Err(); }
}  // namespace

int64_t FileCreate(const wchar_t* path, uint32_t access, uint32_t share, uint32_t disposition,
                   uint32_t flags) {
  HANDLE h = CreateFileW(path, access, share, nullptr, disposition, flags, nullptr);
  return h == INVALID_HANDLE_VALUE ? Err() : static_cast<int64_t>(reinterpret_cast<uintptr_t>(h));
}

int FileSetSize(Handle file, int64_t size) {
  LARGE_INTEGER to;
  to.QuadPart = size;
  if (!SetFilePointerEx(H(file), to, nullptr, FILE_BEGIN)) return static_cast<int>(Err());
  return ::SetEndOfFile(H(file)) ? 0 : static_cast<int>(Err());
}

int FileAllocate(Handle file, int64_t size) {
  FILE_ALLOCATION_INFO info;
  info.AllocationSize.QuadPart = size;
  return SetFileInformationByHandle(H(file), FileAllocationInfo, &info, sizeof info)
             ? 0
             : static_cast<int>(Err());
}

int64_t FileSize(Handle file) {
  LARGE_INTEGER size;
  return GetFileSizeEx(H(file), &size) ? size.QuadPart : Err();
}

int HandleClose(Handle h) { return ::CloseHandle(H(h)) ? 0 : static_cast<int>(Err()); }

int64_t MappingCreate(Handle file, uint32_t protect, uint64_t size, const wchar_t* name,
                      uint32_t* last) {
  SetLastError(0);
  HANDLE h = CreateFileMappingW(file ? H(file) : INVALID_HANDLE_VALUE, nullptr, protect,
                                static_cast<DWORD>(size >> 32),
                                static_cast<DWORD>(size & 0xffffffffu), name);
  *last = GetLastError();
  return h ? static_cast<int64_t>(reinterpret_cast<uintptr_t>(h)) : -static_cast<int64_t>(*last);
}

int64_t MappingOpen(uint32_t access, const wchar_t* name) {
  return Out(OpenFileMappingW(access, FALSE, name));
}

void* ViewMap(Handle mapping, uint32_t access, uint64_t offset, size_t size, uint32_t* err) {
  void* p = MapViewOfFile(H(mapping), access, static_cast<DWORD>(offset >> 32),
                          static_cast<DWORD>(offset & 0xffffffffu), size);
  *err = p ? 0 : GetLastError();
  return p;
}

int ViewUnmap(void* addr) { return UnmapViewOfFile(addr) ? 0 : static_cast<int>(Err()); }

int64_t ViewRegionSize(const void* addr) {
  MEMORY_BASIC_INFORMATION info;
  if (VirtualQuery(addr, &info, sizeof info) == 0) return Err();
  return static_cast<int64_t>(info.RegionSize);
}

int64_t MutexCreate(const wchar_t* name, bool initialOwner, uint32_t* last) {
  SetLastError(0);
  HANDLE h = CreateMutexW(nullptr, initialOwner ? TRUE : FALSE, name);
  *last = GetLastError();
  return h ? static_cast<int64_t>(reinterpret_cast<uintptr_t>(h)) : -static_cast<int64_t>(*last);
}

int64_t MutexOpen(const wchar_t* name) {
  return Out(OpenMutexW(SYNCHRONIZE | MUTEX_MODIFY_STATE, FALSE, name));
}

int MutexRelease(Handle h) { return ::ReleaseMutex(H(h)) ? 0 : static_cast<int>(Err()); }

int64_t SemaphoreCreate(const wchar_t* name, int32_t initial, int32_t maximum, uint32_t* last) {
  SetLastError(0);
  HANDLE h = CreateSemaphoreW(nullptr, initial, maximum, name);
  *last = GetLastError();
  return h ? static_cast<int64_t>(reinterpret_cast<uintptr_t>(h)) : -static_cast<int64_t>(*last);
}

int64_t SemaphoreOpen(const wchar_t* name) {
  return Out(OpenSemaphoreW(SYNCHRONIZE | SEMAPHORE_MODIFY_STATE, FALSE, name));
}

int64_t SemaphoreRelease(Handle h, int32_t count) {
  LONG previous = 0;
  return ::ReleaseSemaphore(H(h), count, &previous) ? previous : Err();
}

int64_t HandleWait(Handle h, double ms) {
  DWORD timeout = ms >= 0 && ms < 4294967294.0 ? static_cast<DWORD>(ms) : INFINITE;
  DWORD r = WaitForSingleObject(H(h), timeout);
  return r == WAIT_FAILED ? Err() : static_cast<int64_t>(r);
}

int64_t HandleDuplicate(Handle h) {
  HANDLE out = nullptr;
  HANDLE self = GetCurrentProcess();
  if (!::DuplicateHandle(self, H(h), self, &out, 0, FALSE, DUPLICATE_SAME_ACCESS)) return Err();
  return static_cast<int64_t>(reinterpret_cast<uintptr_t>(out));
}

uint32_t PageSize() {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwPageSize;
}

uint32_t AllocationGranularity() {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwAllocationGranularity;
}

}  // namespace win
}  // namespace qshm
