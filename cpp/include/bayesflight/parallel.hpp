// A minimal work-sharing loop on std::thread: chunks of an index range handed out in order.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace bayesflight {

// The number of threads to use: `requested`, or every core this process may run on when 0.
int resolve_threads(int requested);

// Calls body(thread, begin, end) over [0, n) in chunks of `chunk` on at most n_threads threads
// (thread 0 is the caller). Chunks are claimed in increasing order. The first exception thrown
// stops the other threads from claiming more chunks and is rethrown here.
template <class Body>
void parallel_for(std::size_t n, std::size_t chunk, int n_threads, Body&& body) {
  if (n == 0) return;
  chunk = std::max<std::size_t>(chunk, 1);
  const std::size_t n_chunks = (n + chunk - 1) / chunk;
  const int threads = static_cast<int>(
      std::min<std::size_t>(static_cast<std::size_t>(std::max(n_threads, 1)), n_chunks));
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&](int thread) {
    try {
      for (;;) {
        if (failed.load(std::memory_order_relaxed)) return;
        const std::size_t c = next.fetch_add(1);
        if (c >= n_chunks) return;
        body(thread, c * chunk, std::min(n, (c + 1) * chunk));
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace bayesflight
