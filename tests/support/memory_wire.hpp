#pragma once
// In-memory wires for tests and benchmarks: a WireBuilder with a scripted fault plan, dial and
// connect counting, and wires whose death can be triggered (drop, close mid-stream, silent sever).

#include <actr/detail/async_queue.hpp>
#include <actr/wire.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace actr::testing {

struct Message {
  Dest dest;
  WireIdentity wire;
  PayloadType pt;
  Bytes bytes;
};

// Where every memory wire delivers. Storing is optional (benchmarks only count).
class Inbox {
 public:
  explicit Inbox(bool store = true, std::size_t capacity = 1 << 20) : store_(store), q_(capacity) {}
  Result<void> deliver(Message m) {
    count_.fetch_add(1, std::memory_order_relaxed);
    if (!store_) return ok();
    return q_.try_push(std::move(m));
  }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::optional<Message> try_pop() { return q_.try_pop(); }
  std::vector<Message> drain() {
    std::vector<Message> out;
    while (auto m = q_.try_pop()) out.push_back(std::move(*m));
    return out;
  }

 private:
  const bool store_;
  std::atomic<std::uint64_t> count_{0};
  detail::AsyncQueue<Message> q_;
};

// A latch the test opens; waiting on it ignores cancellation (models a peer or library call
// that does not honour cancellation, to prove the layers above cope).
class Gate {
 public:
  void open() {
    open_.store(true);
    n_.notify();
  }
  bool is_open() const { return open_.load(); }
  boost::asio::awaitable<void> wait();
  std::atomic<int> waiting{0};

 private:
  std::atomic<bool> open_{false};
  detail::Notifier n_;
};

// What one connect attempt does.
struct ConnectFault {
  enum class Kind { Ok, Fail, Hang, Gate } kind = Kind::Ok;
  Error error = make_error_code(NetworkError::ConnectionError);
  std::shared_ptr<testing::Gate> gate;  // Kind::Gate: succeed once it opens, ignoring cancellation
};

struct FaultPlan {
  WireKindSet kinds = WireKindSet::all();                 // wires the builder creates
  std::map<std::uint32_t, ConnectFault> connect_attempt;  // 1-based attempt number per (dest, kind)
  ConnectFault every_connect;                              // for attempts not in the map
  std::optional<std::uint32_t> close_after_sends;          // wire dies (notify_closed) after N sends
  std::optional<Error> builder_error;                      // create_connections fails
  bool builder_hang = false;                               // create_connections hangs until cancelled
  bool return_connected = false;                           // handles come back already connected
  std::shared_ptr<Gate> builder_gate;  // create_connections completes (successfully) only once open
  std::shared_ptr<Gate> close_gate;    // WireHandle::close completes only once open
};

class MemoryBuilder;

class MemoryWire : public WireHandle {
 public:
  MemoryWire(WireKind kind, Dest dest, std::shared_ptr<MemoryBuilder> owner, FaultPlan plan,
             std::shared_ptr<Inbox> inbox, bool connected);
  ~MemoryWire() override;

  boost::asio::awaitable<Result<void>> connect() override;
  boost::asio::awaitable<void> close() override;
  bool is_connected() const noexcept override { return connected_.load(std::memory_order_acquire); }
  void begin_close() noexcept override { connected_.store(false, std::memory_order_release); }
  Result<std::shared_ptr<DataLane>> get_lane(PayloadType pt) override;
  void invalidate_lane(PayloadType pt) override;

  // Faults triggered by the test:
  void drop();                 // the peer vanished: notify_closed(ConnectionClosed)
  void sever_silently();       // dead, but nobody is told: sends fail closed-like
  void break_lane(PayloadType pt);  // one lane fails closed-like (a DataChannel closed alone)

  const Dest& dest() const noexcept { return dest_; }
  std::uint32_t close_calls() const noexcept { return close_calls_.load(); }
  std::uint64_t sends() const noexcept { return sends_.load(); }
  std::uint64_t failed_sends() const noexcept { return failed_sends_.load(); }

  // For lanes.
  Result<void> deliver(PayloadType pt, ConstBytes bytes, std::uint64_t lane_gen);

 private:
  class Lane;
  const Dest dest_;
  std::weak_ptr<MemoryBuilder> owner_;
  const FaultPlan plan_;
  std::shared_ptr<Inbox> inbox_;
  std::atomic<bool> connected_;
  std::atomic<bool> dead_{false};
  std::atomic<std::uint32_t> close_calls_{0};
  std::atomic<std::uint64_t> sends_{0};
  std::atomic<std::uint64_t> failed_sends_{0};
  std::mutex mu_;
  std::shared_ptr<DataLane> lanes_[kPayloadTypeCount];
  std::uint64_t lane_gen_[kPayloadTypeCount] = {};
  std::uint64_t broken_gen_[kPayloadTypeCount] = {};  // lanes of this generation (or older) fail
};

class MemoryBuilder : public WireBuilder, public std::enable_shared_from_this<MemoryBuilder> {
 public:
  static std::shared_ptr<MemoryBuilder> create(std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>());

  boost::asio::awaitable<Result<std::vector<std::shared_ptr<WireHandle>>>> create_connections(
      Dest dest, WireKindSet kinds) override;

  void set_default_plan(FaultPlan p);
  void set_plan(const Dest& d, FaultPlan p);

  std::uint64_t dials(const Dest& d) const;          // create_connections calls for d
  std::uint64_t total_dials() const noexcept { return total_dials_.load(); }
  std::uint64_t connects(const Dest& d, WireKind k) const;  // connect attempts for (d, k)
  std::uint64_t cancelled_dials() const noexcept { return cancelled_dials_.load(); }
  std::uint64_t cancelled_connects() const noexcept { return cancelled_connects_.load(); }
  // Every wire built so far, in creation order (tests reach in to trigger faults).
  std::vector<std::shared_ptr<MemoryWire>> wires(const Dest& d) const;
  std::size_t live_wire_objects() const noexcept { return live_wires_.load(); }
  const std::shared_ptr<Inbox>& inbox() const noexcept { return inbox_; }

  // For MemoryWire.
  std::uint32_t next_connect_attempt(const Dest& d, WireKind k);
  void count_cancelled_connect() { cancelled_connects_.fetch_add(1); }
  std::atomic<std::size_t> live_wires_{0};

 private:
  explicit MemoryBuilder(std::shared_ptr<Inbox> inbox) : inbox_(std::move(inbox)) {}
  FaultPlan plan_for(const Dest& d) const;

  std::shared_ptr<Inbox> inbox_;
  mutable std::mutex mu_;
  FaultPlan default_plan_;
  std::map<Dest, FaultPlan> plans_;
  std::map<Dest, std::uint64_t> dials_;
  std::map<std::pair<Dest, WireKind>, std::uint64_t> connects_;
  std::map<Dest, std::vector<std::weak_ptr<MemoryWire>>> wires_;
  std::atomic<std::uint64_t> total_dials_{0};
  std::atomic<std::uint64_t> cancelled_dials_{0};
  std::atomic<std::uint64_t> cancelled_connects_{0};
};

}  // namespace actr::testing
