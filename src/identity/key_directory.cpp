// Signing keys on disk. POSIX calls for the permissions: std::filesystem cannot create a file
// with a mode atomically, and a key file must never exist readable by others, even briefly.
#include <actr/error.hpp>
#include <actr/identity.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace actr {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kPrefix = "signing-key-";
constexpr std::string_view kSuffix = ".pem";

Error config_error() { return make_error_code(NetworkError::ConfigurationError); }

bool private_mode(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && (st.st_mode & 077) == 0;
}

// "signing-key-<id>.pem" → id.
std::optional<std::uint32_t> key_id_of(const std::string& name) {
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.rfind(kPrefix, 0) != 0 ||
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
    return std::nullopt;
  const std::string_view digits(name.data() + kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  std::uint32_t id = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec != std::errc{} || ptr != digits.data() + digits.size() || id == 0) return std::nullopt;
  return id;
}

Result<void> write_key(const fs::path& dir, const SigningKey& key) {
  auto pem = key.to_pem();
  if (!pem) return pem.error();
  const auto path = dir / (std::string(kPrefix) + std::to_string(key.key_id()) + std::string(kSuffix));
  // O_EXCL: never overwrite a key (credentials signed with it would stop verifying).
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    spdlog::error("actr: cannot create key file {}: {}", path.string(), std::strerror(errno));
    return config_error();
  }
  std::size_t done = 0;
  while (done < pem->size()) {
    const auto n = ::write(fd, pem->data() + done, pem->size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (done != pem->size() || !synced) return config_error();
  return ok();
}

}  // namespace

Result<KeyDirectory> KeyDirectory::open(fs::path dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (::mkdir(dir.c_str(), 0700) != 0) {
      spdlog::error("actr: cannot create key directory {}: {}", dir.string(), std::strerror(errno));
      return config_error();
    }
  }
  if (!fs::is_directory(dir, ec)) return config_error();
  if (!private_mode(dir)) {
    spdlog::error("actr: key directory {} is accessible by group or others; chmod 700 it", dir.string());
    return config_error();
  }
  KeyDirectory kd(dir);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto id = key_id_of(entry.path().filename().string());
    if (!id) continue;
    if (!private_mode(entry.path())) {
      spdlog::error("actr: key file {} is accessible by group or others; chmod 600 it", entry.path().string());
      return config_error();
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto key = SigningKey::from_pem(*id, text.str());
    if (!key) {
      spdlog::error("actr: {} is not an Ed25519 private key (PKCS#8 PEM)", entry.path().string());
      return key.error();
    }
    kd.keys_.push_back(std::move(*key));
  }
  if (ec) return config_error();
  std::sort(kd.keys_.begin(), kd.keys_.end(), [](const auto& a, const auto& b) { return a.key_id() < b.key_id(); });
  if (kd.keys_.empty()) {
    auto first = kd.add_key();
    if (!first) return first.error();
    spdlog::info("actr: created signing key 1 in {}", dir.string());
  }
  return kd;
}

Result<SigningKey> KeyDirectory::add_key() {
  const std::uint32_t id = keys_.empty() ? 1 : keys_.back().key_id() + 1;
  if (id == 0) return config_error();  // 2^32 rotations: wrapped
  auto key = SigningKey::generate(id);
  if (!key) return key.error();
  auto w = write_key(dir_, *key);
  if (!w) return w.error();
  keys_.push_back(*key);
  return key;
}

Result<std::shared_ptr<CredentialIssuer>> KeyDirectory::issuer(std::chrono::seconds lifetime, UnixClock clock) const {
  auto is = CredentialIssuer::create(current(), lifetime, std::move(clock));
  if (!is) return is;
  // When the older keys were retired is not on disk; "now" is the latest it can have been, so
  // now + lifetime bounds every credential they signed.
  for (std::size_t i = 0; i + 1 < keys_.size(); ++i) (*is)->trust_previous(keys_[i].verifying_key());
  return is;
}

}  // namespace actr
