// SPDX-License-Identifier: MIT
/*
 * Qt's own QSharedMemory doing what benchmarks/js-peer.mjs does with qshm, so `npm run bench`
 * can put the two side by side. Built by benchmarks/run.mjs into benchmarks/.bin/qt-peer with
 *   g++ -O2 -fPIC -std=c++17 qt-peer.cpp $(pkg-config --cflags --libs Qt6Core)
 *
 *   qt-peer uncontended <key> <batches> <pairs-per-batch>   lock()+unlock() pairs
 *   qt-peer attachdetach <key> <batches> <pairs-per-batch>  attach()+detach() of a second object
 *   qt-peer contend <key> <role 0|1> <window-ms>            shared counter under lock()
 *   qt-peer handoff <key> <role 0|1> <rounds> <hold-us>     unlock() -> the waiter's lock() returns
 *   qt-peer createdetach <key> <batches> <pairs> <bytes>    create()+detach() (destroying), Qt's create shape
 *
 * Role 0 creates the segment and prints "ready"; role 1 attaches. Both meet at a barrier in the
 * segment, run, and print one JSON line; role 0 then waits for a line on stdin before it detaches
 * (so the attacher is gone first and Qt's creator-owned semaphore is removed last, cleanly).
 * The control block layout is the one in benchmarks/run.mjs.
 */
#include <QtCore/QSharedMemory>
#include <QtCore/QString>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

enum { COUNTER = 0, LAST = 4, SWITCHES = 8, READY = 64, DONE = 128, STOP = 192, TURN = 256, T0 = 320, CPU = 448,
       SIZE = 4096 };

double nowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return double(t.tv_sec) * 1e9 + double(t.tv_nsec);
}

uint32_t *word(void *base, int off) { return reinterpret_cast<uint32_t *>(static_cast<char *>(base) + off); }

void barrier(void *m, int off, uint32_t n) {
  __atomic_add_fetch(word(m, off), 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(word(m, off), __ATOMIC_SEQ_CST) < n) {
  }
}

/** Asleep in a shared futex on the turn word until it holds `want` (the same in every peer). */
void waitTurn(uint32_t *turn, uint32_t want) {
  for (;;) {
    uint32_t v = __atomic_load_n(turn, __ATOMIC_SEQ_CST);
    if (v == want) return;
    syscall(SYS_futex, turn, FUTEX_WAIT, v, nullptr, nullptr, 0);
  }
}

void setTurn(uint32_t *turn, uint32_t v) {
  __atomic_store_n(turn, v, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, turn, FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

void sleepUs(double us) {
  timespec ts{time_t(us / 1e6), long((us - double(time_t(us / 1e6)) * 1e6) * 1000)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

[[noreturn]] void die(const char *what, const QSharedMemory &shm) {
  std::fprintf(stderr, "qt-peer: %s: %s\n", what, shm.errorString().toLocal8Bit().constData());
  std::exit(2);
}

void printSamples(const std::vector<double> &v, int decimals, long late = 0, const std::vector<int> *same = nullptr) {
  std::printf("{\"late\":%ld,\"samples\":[", late);
  for (size_t i = 0; i < v.size(); i++) std::printf("%s%.*f", i ? "," : "", decimals, v[i]);
  std::printf("]");
  if (same) {
    std::printf(",\"same\":[");
    for (size_t i = 0; i < same->size(); i++) std::printf("%s%d", i ? "," : "", (*same)[i]);
    std::printf("]");
  }
  std::printf("}\n");
  std::fflush(stdout);
}

/** Role 0 creates and announces; role 1 attaches. */
void openRole(QSharedMemory &shm, int role) {
  if (role == 0) {
    if (!shm.create(SIZE)) die("create", shm);
    std::printf("ready\n");
    std::fflush(stdout);
  } else if (!shm.attach()) {
    die("attach", shm);
  }
}

void finishRole(int role) {
  if (role == 0) {
    char line[16];
    if (!std::fgets(line, sizeof line, stdin)) {
    }
  }
}

/** Untimed warm-up, the same in every peer: at least one batch and WARM_MS. */
const double WARM_MS = 250;
template <typename F> void warmUp(long pairs, F body) {
  double end = nowNs() + WARM_MS * 1e6;
  do {
    for (long i = 0; i < pairs; i++) body();
  } while (nowNs() < end);
}

int uncontended(const QString &key, long batches, long pairs) {
  QSharedMemory shm(key);
  if (!shm.create(SIZE)) die("create", shm);
  warmUp(pairs, [&] {
    shm.lock();
    shm.unlock();
  });
  std::vector<double> ns;
  for (long b = 0; b < batches; b++) {
    double t = nowNs();
    for (long i = 0; i < pairs; i++) {
      if (!shm.lock()) die("lock", shm);
      shm.unlock();
    }
    ns.push_back((nowNs() - t) / double(pairs));
  }
  printSamples(ns, 3);
  return 0;
}

int attachDetach(const QString &key, long batches, long pairs) {
  QSharedMemory owner(key);
  if (!owner.create(SIZE)) die("create", owner);
  QSharedMemory other(key);
  auto pair = [&] {
    if (!other.attach()) die("attach", other);
    other.detach();
  };
  warmUp(pairs, pair);
  std::vector<double> ns;
  for (long b = 0; b < batches; b++) {
    double t = nowNs();
    for (long i = 0; i < pairs; i++) pair();
    ns.push_back((nowNs() - t) / double(pairs));
  }
  printSamples(ns, 3);
  return 0;
}

int createDetach(const QString &key, long batches, long pairs, long long bytes) {
  QSharedMemory shm(key);
  auto pair = [&] {
    if (!shm.create(qsizetype(bytes))) die("create", shm);
    shm.detach();
  };
  warmUp(pairs, pair);
  std::vector<double> ns;
  for (long b = 0; b < batches; b++) {
    double t = nowNs();
    for (long i = 0; i < pairs; i++) pair();
    ns.push_back((nowNs() - t) / double(pairs));
  }
  printSamples(ns, 3);
  return 0;
}

int contend(const QString &key, int role, double windowMs) {
  QSharedMemory shm(key);
  openRole(shm, role);
  void *m = shm.data();
  volatile uint32_t *counter = word(m, COUNTER), *last = word(m, LAST), *switches = word(m, SWITCHES);
  const uint32_t me = uint32_t(role) + 1;
  barrier(m, READY, 2);
  double start = nowNs(), deadline = start + windowMs * 1e6;
  long mine = 0;
  for (;;) {
    if (role == 0 && (mine & 255) == 0 && nowNs() > deadline) __atomic_store_n(word(m, STOP), 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(word(m, STOP), __ATOMIC_RELAXED)) break;
    if (!shm.lock()) die("lock", shm);
    *counter = *counter + 1;
    if (*last != me) {
      *last = me;
      *switches = *switches + 1;
    }
    shm.unlock();
    mine++;
  }
  double end = nowNs();
  barrier(m, DONE, 2);
  std::printf("{\"ops\":%ld,\"start\":%.0f,\"end\":%.0f,\"counter\":%u,\"switches\":%u}\n", mine, start, end,
              __atomic_load_n(word(m, COUNTER), __ATOMIC_SEQ_CST), __atomic_load_n(word(m, SWITCHES), __ATOMIC_SEQ_CST));
  std::fflush(stdout);
  finishRole(role);
  return 0;
}

int handoff(const QString &key, int role, long rounds, double holdUs) {
  QSharedMemory shm(key);
  openRole(shm, role);
  void *m = shm.data();
  uint32_t *turn = word(m, TURN);
  volatile double *t0 = reinterpret_cast<volatile double *>(static_cast<char *>(m) + T0);
  barrier(m, READY, 2);
  int *cpu = reinterpret_cast<int *>(static_cast<char *>(m) + CPU);
  const long lastAcq = rounds + 1;
  std::vector<double> lat;
  std::vector<int> same;
  long late = 0;
  for (long a = role == 0 ? 1 : 2; a <= lastAcq; a += 2) {
    if (a > 1) waitTurn(turn, uint32_t(a - 1));
    double entered = nowNs();
    if (!shm.lock()) die("lock", shm);
    double t1 = nowNs();
    if (a > 1) {
      if (entered < *t0) {
        lat.push_back(t1 - *t0);
        same.push_back(sched_getcpu() == __atomic_load_n(cpu, __ATOMIC_SEQ_CST) ? 1 : 0);
      } else {
        late++;
      }
    }
    setTurn(turn, uint32_t(a));
    sleepUs(holdUs);
    if (a < lastAcq) {
      __atomic_store_n(cpu, sched_getcpu(), __ATOMIC_SEQ_CST);
      *t0 = nowNs();
    }
    shm.unlock();
  }
  barrier(m, DONE, 2);
  printSamples(lat, 0, late, &same);
  finishRole(role);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  QString key = argc > 2 ? QString::fromLocal8Bit(argv[2]) : QString();
  if (mode == "uncontended" && argc >= 5) return uncontended(key, std::atol(argv[3]), std::atol(argv[4]));
  if (mode == "attachdetach" && argc >= 5) return attachDetach(key, std::atol(argv[3]), std::atol(argv[4]));
  if (mode == "createdetach" && argc >= 6) return createDetach(key, std::atol(argv[3]), std::atol(argv[4]), std::atoll(argv[5]));
  if (mode == "contend" && argc >= 5) return contend(key, std::atoi(argv[3]), std::atof(argv[4]));
  if (mode == "handoff" && argc >= 6) return handoff(key, std::atoi(argv[3]), std::atol(argv[4]), std::atof(argv[5]));
  std::fprintf(stderr, "usage: see the comment at the top of benchmarks/qt-peer.cpp\n");
  return 2;
}
