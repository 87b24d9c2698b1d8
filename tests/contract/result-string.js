// about: top-level return of a string, including non-ASCII characters
// expect-status: ok
// expect-result: "héllo wörld ✓ 🎉"
return 'héllo wörld ✓ 🎉';
