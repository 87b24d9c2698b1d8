// about: Promise.allSettled reports fulfilled and rejected entries
// expect-status: ok
// expect-result: [{"status": "fulfilled", "value": 1}, {"status": "rejected", "reason": "no"}]
const res = await Promise.allSettled([Promise.resolve(1), Promise.reject(new Error('no'))]);
return res.map((r) => (r.status === 'fulfilled' ? r : { status: r.status, reason: r.reason.message }));
