"""TEMPORARY shim until the ex-sim branch lands (replaced at merge)."""
from __future__ import annotations
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any
from domain.scenario import ConsumptionSurge, Delivery, DeliveryFailure

DAY = timedelta(days=1)

@dataclass(frozen=True)
class Baseline:
    depot: str
    region: str
    item: str
    consumed_14d: int

@dataclass(frozen=True)
class Step:
    at: datetime
    inject_id: str | None = None
    inject: Any = None
    day: int | None = None

def day_ends(start, after, until):
    out=[]; n=max(1, int((after-start)/DAY))
    while start + n*DAY <= until:
        if start+n*DAY > after: out.append((n, start+n*DAY))
        n+=1
    return out

def surge_factor(surges, day_end, depot, region, item):
    f=Fraction(1)
    for s in surges:
        if s.covers(day_end, depot, region, item): f*=s.exact_factor
    return f

def demand(b, surges, start, n):
    rate=Fraction(b.consumed_14d,14)
    c=[Fraction(0)]
    for j in range(1,n+1): c.append(c[-1]+rate*surge_factor(surges,start+j*DAY,b.depot,b.region,b.item))
    return floor(c[n])-floor(c[n-1])

def consumed(d, on_hand): return min(d, max(0,on_hand))
def lost(on_hand, fraction): return floor(max(0,on_hand)*fraction)

def failed_deliveries(injects):
    fails=[i for _,i in injects if isinstance(i, DeliveryFailure)]
    return {k for k,i in injects if isinstance(i, Delivery) and any(f.stops(i) for f in fails)}

def steps(injects, start, after, until):
    out=[(i.at,0,k,Step(at=i.at,inject_id=k,inject=i)) for k,i in injects if after < i.at <= until]
    out+=[(t,1,"",Step(at=t,day=n)) for n,t in day_ends(start,after,until)]
    return [s for *_,s in sorted(out, key=lambda x:(x[0],x[1],x[2]))]
