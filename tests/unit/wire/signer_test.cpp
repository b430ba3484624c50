#include "ensemble/wire/signer.hpp"

#include <string>
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
