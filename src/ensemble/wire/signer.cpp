#include "ensemble/wire/signer.hpp"

#include "hex.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <functional>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace ensemble::wire {

namespace {
constexpr std::size_t kDigestSize = 32;
}  // namespace

// A keyed HMAC context prepared once, and the contexts signatures are computed
// in. Each call takes a context of its own from `idle`, so concurrent const
// calls never share mutable OpenSSL state; a context used before is reset to
// the key with EVP_MAC_init(ctx, NULL, ...). Duplicating the keyed context for
// every message, as before, allocated and freed three digest contexts each time:
// 0.68 µs against 0.41 µs for a reset, for a message of a task's size, and a
// load-balanced task is signed or verified eight times across the cluster.
class Signer::Impl {
 public:
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;

  ~Impl() {
    for (EVP_MAC_CTX* ctx : idle) EVP_MAC_CTX_free(ctx);
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
  }

  bool digest(std::string_view header, std::string_view parent, std::string_view metadata, std::string_view content,
              unsigned char* out) {
    EVP_MAC_CTX* ctx = take();
    if (ctx == nullptr) return false;
    bool ok = true;
    for (std::string_view part : {header, parent, metadata, content}) {
      ok = ok && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size()) == 1;
    }
    std::size_t length = 0;
    ok = ok && EVP_MAC_final(ctx, out, &length, kDigestSize) == 1 && length == kDigestSize;
    if (ok) {
      put_back(ctx);
    } else {
      EVP_MAC_CTX_free(ctx);  // in an unknown state: a later call makes a fresh one
    }
    return ok;
  }

 private:
  // A context reset to the key, or null if OpenSSL fails; give it back with put_back().
  EVP_MAC_CTX* take() {
    EVP_MAC_CTX* ctx = nullptr;
    {
      std::lock_guard lock(idle_mutex);
      if (!idle.empty()) {
        ctx = idle.back();
        idle.pop_back();
      }
    }
    if (ctx == nullptr) return EVP_MAC_CTX_dup(keyed);
    if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1) {
      EVP_MAC_CTX_free(ctx);
      return EVP_MAC_CTX_dup(keyed);
    }
    return ctx;
  }

  void put_back(EVP_MAC_CTX* ctx) {
    std::lock_guard lock(idle_mutex);
    idle.push_back(ctx);
  }

  std::mutex idle_mutex;
  std::vector<EVP_MAC_CTX*> idle;  // GUARDED_BY(idle_mutex); at most one per thread that signs at once
};

Signer::Signer(std::string key) : key_(std::move(key)) {
  if (key_.empty()) return;
  impl_ = std::make_unique<Impl>();
  impl_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (impl_->mac == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
  impl_->keyed = EVP_MAC_CTX_new(impl_->mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (impl_->keyed == nullptr ||
      EVP_MAC_init(impl_->keyed, reinterpret_cast<const unsigned char*>(key_.data()), key_.size(), params) != 1) {
    throw std::runtime_error("cannot initialise HMAC-SHA256");
  }
}

Signer::~Signer() = default;
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;

std::string Signer::sign(std::string_view header, std::string_view parent, std::string_view metadata,
                         std::string_view content) const {
  if (!enabled()) return {};
  unsigned char out[kDigestSize];
  if (!impl_->digest(header, parent, metadata, content, out)) {
    throw std::runtime_error("HMAC computation failed");
  }
  return detail::to_hex(out, kDigestSize);
}

bool Signer::verify(std::string_view signature, std::string_view header, std::string_view parent,
                    std::string_view metadata, std::string_view content) const {
  if (!enabled()) return true;
  if (signature.size() != kDigestSize * 2) return false;
  unsigned char out[kDigestSize];
  if (!impl_->digest(header, parent, metadata, content, out)) return false;
  char expected[kDigestSize * 2];  // on the stack: every message received is verified
  detail::write_hex(out, kDigestSize, expected);
  return CRYPTO_memcmp(expected, signature.data(), sizeof expected) == 0;
}

bool ReplayGuard::admit(std::string_view signature) {
  if (signature.empty()) return true;
  std::uint64_t key = std::hash<std::string_view>{}(signature);
  if (!seen_.insert(key).second) return false;
  order_.push_back(key);
  if (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace ensemble::wire
