"""The seed's Day 3 model server (FastAPI + PyTorch, nn.Linear(10, 1)), as
the benchmark's baseline. Same code shape as the seed's app.py/model.py;
the weights are gpuctl's built-in seed weights so both servers answer alike."""
import torch
import torch.nn as nn
from fastapi import FastAPI


class SimpleModel(nn.Module):
    def __init__(self):
        super(SimpleModel, self).__init__()
        self.linear = nn.Linear(10, 1)

    def forward(self, x):
        return self.linear(x)


device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = SimpleModel().to(device)
with torch.no_grad():
    w = [(i + 1) / 16 * (1 if i % 2 == 0 else -1) for i in range(10)]
    model.linear.weight.copy_(torch.tensor([w]))
    model.linear.bias.fill_(0.5)
model.eval()


def predict(input_data):
    with torch.no_grad():
        tensor = torch.tensor(input_data, dtype=torch.float32).to(device)
        output = model(tensor)
        return output.cpu().numpy().tolist()


print("Using device:", device)

app = FastAPI()


@app.get("/")
def health_check():
    return {"status": "running", "gpu_available": torch.cuda.is_available()}


@app.post("/predict")
def run_inference(data: list):
    result = predict(data)
    return {"prediction": result}
