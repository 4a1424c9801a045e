#include <actr/error.hpp>
#include <actr/rpc_correlation.hpp>

#include <spdlog/spdlog.h>

#include <variant>

namespace actr {

struct RpcCorrelation::Entry {
  Entry(std::string id, Dest t) : request_id(std::move(id)), target(std::move(t)) {}
  const std::string request_id;
  const Dest target;
  std::optional<Result<Bytes>> result;  // guarded by State::mu
  std::optional<RemoteError> remote;    // guarded by State::mu
  detail::Notifier done;
};

struct RpcCorrelation::State {
  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Entry>> map;

  // Sets the result of the entry registered under `id` and unlinks it. Caller holds `mu`.
  std::shared_ptr<Entry> take_locked(const std::string& id) {
    auto it = map.find(id);
    if (it == map.end()) return nullptr;
    auto e = std::move(it->second);
    map.erase(it);
    return e;
  }
};

RpcCorrelation::RpcCorrelation() : st_(std::make_shared<State>()) {}

RpcCorrelation::Pending RpcCorrelation::register_request(std::string request_id, Dest target) {
  auto e = std::make_shared<Entry>(request_id, std::move(target));
  std::shared_ptr<Entry> old;
  {
    std::lock_guard lk(st_->mu);
    auto& slot = st_->map[request_id];
    old = std::exchange(slot, e);
    if (old && !old->result) old->result = Result<Bytes>(make_error_code(NetworkError::Cancelled));
  }
  if (old) {
    spdlog::warn("actr: rpc.pending_overwritten request_id={}", request_id);
    old->done.notify();
  }
  return Pending(st_, std::move(e));
}

RpcCorrelation::Pending::~Pending() {
  if (!st_ || !e_) return;
  std::lock_guard lk(st_->mu);
  auto it = st_->map.find(e_->request_id);
  if (it != st_->map.end() && it->second == e_) st_->map.erase(it);
}

const std::string& RpcCorrelation::Pending::request_id() const noexcept { return e_->request_id; }

std::optional<RemoteError> RpcCorrelation::Pending::remote_error() const {
  std::lock_guard lk(st_->mu);
  return e_->remote;
}

boost::asio::awaitable<Result<Bytes>> RpcCorrelation::Pending::wait(Deadline deadline) {
  for (;;) {
    const auto seen = e_->done.version();
    {
      std::lock_guard lk(st_->mu);
      if (e_->result) co_return *e_->result;
    }
    auto w = co_await e_->done.async_wait_change(seen, deadline);
    if (!w) {
      std::lock_guard lk(st_->mu);
      if (e_->result) co_return *e_->result;  // completed at the same moment: the answer wins
      co_return w.error();
    }
  }
}

namespace {
template <class Fill>
RpcCorrelation::Completion finish(RpcCorrelation::State& st, const std::string& id, Fill fill) {
  std::shared_ptr<RpcCorrelation::Entry> e;
  {
    std::lock_guard lk(st.mu);
    e = st.take_locked(id);
    if (!e) return RpcCorrelation::Completion::Orphan;
    fill(*e);
  }
  e->done.notify();
  return RpcCorrelation::Completion::Completed;
}
}  // namespace

RpcCorrelation::Completion RpcCorrelation::complete(const std::string& request_id, Bytes payload) {
  return finish(*st_, request_id, [&](Entry& e) { e.result = Result<Bytes>(std::move(payload)); });
}

RpcCorrelation::Completion RpcCorrelation::complete_error(const std::string& request_id, RemoteError err) {
  return finish(*st_, request_id, [&](Entry& e) {
    e.remote = std::move(err);
    e.result = Result<Bytes>(make_error_code(NetworkError::ProtocolError));
  });
}

RpcCorrelation::Completion RpcCorrelation::fail(const std::string& request_id, Error why) {
  return finish(*st_, request_id, [&](Entry& e) { e.result = Result<Bytes>(why); });
}

std::size_t RpcCorrelation::fail_where(const std::function<bool(const Dest&)>& pred, Error why) {
  std::vector<std::shared_ptr<Entry>> failed;
  {
    std::lock_guard lk(st_->mu);
    for (auto it = st_->map.begin(); it != st_->map.end();) {
      if (pred(it->second->target)) {
        it->second->result = Result<Bytes>(why);
        failed.push_back(std::move(it->second));
        it = st_->map.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& e : failed) e->done.notify();
  return failed.size();
}

std::size_t RpcCorrelation::size() const {
  std::lock_guard lk(st_->mu);
  return st_->map.size();
}

}  // namespace actr
