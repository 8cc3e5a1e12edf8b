"""Train a digit classifier and record everything needed to explain the result later.

    python examples/train_digits.py --epochs 30 --lr 0.01

The digits dataset ships inside scikit-learn, so this runs offline. runtrack records the
config, the seed, the dataset's content hash, per-epoch metrics, final metrics, the
model file, and (with no code here) git state, command line, packages and hardware.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import runtrack


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--project", default="digits")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=0.3, help="initial learning rate (eta0)")
    p.add_argument("--alpha", type=float, default=1e-4, help="L2 regularisation")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--test-size", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=5, help="early stopping on val loss")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    runtrack.seed_everything(args.seed)
    with runtrack.init(project=args.project, config=args, tags={"model": "sgd-logreg"}) as run:
        # the dataset file inside scikit-learn: its content hash goes into the run
        data_file = Path(datasets.__file__).parent / "data" / "digits.csv.gz"
        run.use_dataset(data_file, name="sklearn-digits")
        X, y = datasets.load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=args.test_size, random_state=args.seed, stratify=y
        )
        X_train, X_val, y_train, y_val = train_test_split(
            X_train, y_train, test_size=0.2, random_state=args.seed, stratify=y_train
        )
        scaler = StandardScaler().fit(X_train)
        X_train, X_val, X_test = (scaler.transform(a) for a in (X_train, X_val, X_test))
        run.config.update({"n_train": len(X_train), "n_val": len(X_val), "n_test": len(X_test)})

        classes = np.unique(y)
        model = SGDClassifier(
            loss="log_loss",
            learning_rate="invscaling",
            eta0=args.lr,
            alpha=args.alpha,
            random_state=args.seed,
        )
        rng = np.random.default_rng(args.seed)
        best_val, best_epoch, since_best = float("inf"), -1, 0
        for epoch in range(args.epochs):
            order = rng.permutation(len(X_train))
            for start in range(0, len(order), args.batch_size):
                idx = order[start : start + args.batch_size]
                model.partial_fit(X_train[idx], y_train[idx], classes=classes)
            train_loss = log_loss(y_train, model.predict_proba(X_train), labels=classes)
            val_proba = model.predict_proba(X_val)
            val_loss = log_loss(y_val, val_proba, labels=classes)
            run.log(
                {
                    "train/loss": train_loss,
                    "val/loss": val_loss,
                    "val/acc": accuracy_score(y_val, classes[val_proba.argmax(1)]),
                },
                step=epoch,
            )
            if val_loss < best_val - 1e-4:
                best_val, best_epoch, since_best = val_loss, epoch, 0
            else:
                since_best += 1
                if since_best >= args.patience:
                    break

        pred = model.predict(X_test)
        run.summary.update(
            {
                "test/acc": accuracy_score(y_test, pred),
                "test/f1_macro": f1_score(y_test, pred, average="macro"),
                "test/loss": log_loss(y_test, model.predict_proba(X_test), labels=classes),
                "best_val_loss": best_val,
                "best_epoch": best_epoch,
                "epochs_run": epoch + 1,
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.pkl"
            with open(path, "wb") as f:
                pickle.dump({"scaler": scaler, "model": model}, f)
            run.log_artifact(path, name="digits-model", type="model")
        print(
            f"test accuracy {run.summary['test/acc']:.4f} after {epoch + 1} epochs (run {run.id})"
        )


if __name__ == "__main__":
    main()
