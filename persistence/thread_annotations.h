// Clang thread-safety annotations (-Wthread-safety) and a Mutex/CondVar pair that carries them.
//
// Contract
// - The COWTREE_* macros expand to clang's capability attributes and to nothing on other
//   compilers, so GCC builds are unaffected; clang builds check lock discipline at compile time.
// - Mutex wraps std::mutex (not recursive); MutexLock is its scoped holder; CondVar waits on a
//   held Mutex. libstdc++'s std::mutex carries no capability attribute, hence the wrapper.
// - Thread-safety: Mutex and CondVar are, by definition, safe to use from any thread.
// Sources: https://clang.llvm.org/docs/ThreadSafetyAnalysis.html (mutex.h example there).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define COWTREE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define COWTREE_THREAD_ANNOTATION(x)
#endif

#define COWTREE_CAPABILITY(x) COWTREE_THREAD_ANNOTATION(capability(x))
#define COWTREE_SCOPED_CAPABILITY COWTREE_THREAD_ANNOTATION(scoped_lockable)
#define COWTREE_GUARDED_BY(x) COWTREE_THREAD_ANNOTATION(guarded_by(x))
#define COWTREE_PT_GUARDED_BY(x) COWTREE_THREAD_ANNOTATION(pt_guarded_by(x))
#define COWTREE_REQUIRES(...) COWTREE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define COWTREE_EXCLUDES(...) COWTREE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define COWTREE_ACQUIRE(...) COWTREE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define COWTREE_RELEASE(...) COWTREE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define COWTREE_REQUIRES_SHARED(...) \
  COWTREE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define COWTREE_ACQUIRE_SHARED(...) \
  COWTREE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define COWTREE_RELEASE_SHARED(...) \
  COWTREE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define COWTREE_TRY_ACQUIRE(...) COWTREE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define COWTREE_RELEASE_GENERIC(...) \
  COWTREE_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define COWTREE_NO_THREAD_SAFETY_ANALYSIS COWTREE_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace cowtree {

class COWTREE_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  void Lock() COWTREE_ACQUIRE() { mu_.lock(); }
  // Takes the mutex if it is free; true iff taken.
  bool TryLock() COWTREE_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  void Unlock() COWTREE_RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

class COWTREE_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) COWTREE_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() COWTREE_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A reader-writer lock (std::shared_mutex) that carries the capability: ReaderLock holds it
// shared, WriterLock exclusively.
class COWTREE_CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;
  void Lock() COWTREE_ACQUIRE() { mu_.lock(); }
  void Unlock() COWTREE_RELEASE() { mu_.unlock(); }
  void LockShared() COWTREE_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() COWTREE_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class COWTREE_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) COWTREE_ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() COWTREE_RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class COWTREE_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) COWTREE_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() COWTREE_RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Condition variable used with a Mutex.
class CondVar {
 public:
  // Atomically releases *mu (which the caller holds) and blocks; holds it again on return.
  // May wake spuriously: callers re-check their predicate in a loop.
  void Wait(Mutex* mu) COWTREE_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // *mu stays held, as the annotation says
  }
  // As Wait, but returns at `deadline` at the latest. Returns false iff it timed out.
  template <typename Clock, typename Duration>
  bool WaitUntil(Mutex* mu, const std::chrono::time_point<Clock, Duration>& deadline)
      COWTREE_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();  // *mu stays held, as the annotation says
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace cowtree
