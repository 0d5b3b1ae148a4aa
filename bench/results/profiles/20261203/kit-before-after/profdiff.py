import collections
import gzip
import re
import sys
def load(p):
    incl=collections.Counter(); self_=collections.Counter(); total=0
    for line in (gzip.open(p, 'rt') if p.endswith('.gz') else open(p)):
        line=line.rstrip()
        if not line: continue
        stack, _, n = line.rpartition(' ')
        n=int(n); total+=n
        frames=stack.split(';')
        # normalise frame: "func (file:line)" -> "func (file)"
        norm=[re.sub(r':\d+\)$',')',f) for f in frames]
        for f in set(norm): incl[f]+=n
        self_[norm[-1]]+=n
    return incl,self_,total
bi,bs,bt=load(sys.argv[1]); ai,as_,at=load(sys.argv[2])
print('samples before',bt,'after',at)
keys=set(bi)|set(ai)
rows=[]
for k in keys:
    b=bi[k]/bt*100; a=ai[k]/at*100
    rows.append((a-b,b,a,k))
rows.sort(reverse=True)
print('--- inclusive %: largest increases')
for d,b,a,k in rows[:25]:
    print(f'{d:+6.1f}  {b:5.1f} -> {a:5.1f}  {k[:150]}')
