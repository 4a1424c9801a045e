// The signaling client's connect (one server or a list to fail over among), the server it is on,
// and the list form of signaling URLs.
#include "signaling/client_impl.hpp"

namespace actr {

using namespace actr::detail;
using namespace actr::sig;
using std::chrono::milliseconds;

std::vector<std::string> split_signal_urls(std::string_view list) {
  std::vector<std::string> out;
  constexpr std::string_view kBlank = " \t\r\n";
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    const auto b = item.find_first_not_of(kBlank);
    if (b == std::string_view::npos) continue;
    item = item.substr(b, item.find_last_not_of(kBlank) - b + 1);
    out.emplace_back(item);
  }
  return out;
}

asio::awaitable<Result<void>> SignalingClient::connect(std::string url) {
  std::vector<std::string> one;
  one.push_back(std::move(url));
  auto r = co_await connect(std::move(one));
  co_return r;
}

asio::awaitable<Result<void>> SignalingClient::connect(std::vector<std::string> urls) {
  auto impl = impl_;
  // Every URL is checked before any dial: a typo in the third server's URL should not wait for
  // the day the first two are down to show.
  if (urls.empty()) co_return make_error_code(NetworkError::InvalidArgument);
  for (const auto& u : urls)
    if (auto p = ws::parse_url(u); !p) co_return p.error();
  const auto n = urls.size();
  {
    std::lock_guard lk(impl->mu);
    if (impl->closed) co_return make_error_code(NetworkError::ShuttingDown);
    if (impl->started) co_return make_error_code(NetworkError::InvalidOperation);
    impl->started = true;
    impl->urls = std::move(urls);
    impl->current = 0;
    impl->linked = false;
  }
  auto first = std::make_shared<AsyncQueue<FirstAttempt>>(1);
  const auto id = impl->tasks.spawn("signaling-supervisor", [impl, first]() { return impl->supervise(first); });
  if (id == 0) co_return make_error_code(NetworkError::ShuttingDown);
  // Each dial is bounded by connect_timeout inside; the margin only covers scheduling.
  const auto bound = impl->cfg.connect_timeout * static_cast<milliseconds::rep>(n) + milliseconds{1000};
  auto r = co_await first->pop(Clock::now() + bound);
  const Error failed = r ? r->ec() : r.error();
  if (failed) {
    impl->tasks.cancel(id);
    std::lock_guard lk(impl->mu);
    impl->started = false;
    co_return failed;
  }
  impl->tasks.spawn("signaling-heartbeat", [impl]() { return impl->heartbeat_loop(); });
  co_return ok();
}

std::string SignalingClient::current_url() const {
  std::lock_guard lk(impl_->mu);
  if (!impl_->linked || impl_->current >= impl_->urls.size()) return {};
  return impl_->urls[impl_->current];
}

std::uint64_t SignalingClient::server_switches() const noexcept { return impl_->switches.load(); }

}  // namespace actr
