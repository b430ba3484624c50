#include "ensemble/wire/signer.hpp"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ensemble::wire {
namespace {

TEST(Signer, MatchesKnownHmacSha256) {
  // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), split across the four frames.
  Signer signer("key");
  EXPECT_EQ(signer.sign("The quick ", "brown fox ", "jumps over ", "the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST(Signer, VerifiesItsOwnSignature) {
  Signer signer("secret");
  std::string signature = signer.sign("h", "p", "m", "c");
  EXPECT_TRUE(signer.verify(signature, "h", "p", "m", "c"));
}

TEST(Signer, RejectsTamperedContentAndWrongLength) {
  Signer signer("secret");
  std::string signature = signer.sign("h", "p", "m", "c");
  EXPECT_FALSE(signer.verify(signature, "h", "p", "m", "C"));
  EXPECT_FALSE(signer.verify(signature.substr(1), "h", "p", "m", "c"));
  EXPECT_FALSE(signer.verify("", "h", "p", "m", "c"));
}

TEST(Signer, SignsAgainAlikeWithTheContextItReuses) {
  // the second and later signatures reset a context used before instead of making one
  Signer signer("key");
  const std::string fox = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
  EXPECT_EQ(signer.sign("The quick ", "brown fox ", "jumps over ", "the lazy dog"), fox);
  std::string other = signer.sign("h", "p", "m", "c");
  EXPECT_NE(other, fox);
  EXPECT_EQ(signer.sign("The quick ", "brown fox ", "jumps over ", "the lazy dog"), fox);
  EXPECT_TRUE(signer.verify(fox, "The quick ", "brown fox ", "jumps over ", "the lazy dog"));
  EXPECT_EQ(signer.sign("h", "p", "m", "c"), other);
}

TEST(Signer, ThreadsSigningAndVerifyingAtOnceEachGetTheirOwnMessagesSignature) {
  const std::string key = "shared";
  constexpr int kThreads = 4;
  constexpr int kEach = 3000;
  auto message = [](int thread, int i) { return std::to_string(thread) + ":" + std::to_string(i); };
  std::vector<std::vector<std::string>> expected(kThreads);
  {
    Signer reference(key);
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < kEach; ++i) expected[t].push_back(reference.sign(message(t, i), "{}", "{}", "{}"));
    }
  }
  Signer signer(key);
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string m = message(t, i);
        if (signer.sign(m, "{}", "{}", "{}") != expected[t][i]) ++wrong[t];
        if (!signer.verify(expected[t][i], m, "{}", "{}", "{}")) ++wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

TEST(Signer, EmptyKeyDisablesSigning) {
  Signer signer("");
  EXPECT_EQ(signer.sign("h", "p", "m", "c"), "");
  EXPECT_TRUE(signer.verify("anything", "h", "p", "m", "c"));
}

TEST(ReplayGuard, RejectsASignatureSeenBefore) {
  ReplayGuard guard;
  EXPECT_TRUE(guard.admit("abc"));
  EXPECT_FALSE(guard.admit("abc"));
  EXPECT_TRUE(guard.admit("abd"));
}

TEST(ReplayGuard, ForgetsTheOldestBeyondCapacity) {
  ReplayGuard guard(2);
  EXPECT_TRUE(guard.admit("a"));
  EXPECT_TRUE(guard.admit("b"));
  EXPECT_TRUE(guard.admit("c"));
  EXPECT_TRUE(guard.admit("a"));
  EXPECT_FALSE(guard.admit("c"));
}

TEST(ReplayGuard, AdmitsEveryDistinctSignatureOfAFullWindowAndRejectsEachAgain) {
  // it keeps hashes, not the signatures: no two real ones may be taken for each other
  Signer signer("key");
  ReplayGuard guard(1 << 16);
  std::vector<std::string> signatures;
  for (int i = 0; i < (1 << 16); ++i) signatures.push_back(signer.sign(std::to_string(i), "{}", "{}", "{}"));
  for (const auto& signature : signatures) ASSERT_TRUE(guard.admit(signature));
  for (const auto& signature : signatures) ASSERT_FALSE(guard.admit(signature));
}

TEST(ReplayGuard, NeverTracksEmptySignatures) {
  ReplayGuard guard;
  EXPECT_TRUE(guard.admit(""));
  EXPECT_TRUE(guard.admit(""));
}

}  // namespace
}  // namespace ensemble::wire
